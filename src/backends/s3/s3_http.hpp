#pragma once
// S3 requests over libcurl: kept-alive connections in a pool shared by the process's threads,
// SigV4 signing by libcurl itself (CURLOPT_AWS_SIGV4), the payload's SHA-256 from OpenSSL, and
// retries of 5xx replies (SlowDown included) and broken connections with jittered backoff within
// the request timeout.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3_settings.hpp"
#include "server_clock.hpp"

namespace cachier::detail::s3 {

/// One request to the bucket.
struct s3_request {
    const char* method = "GET";       ///< GET, PUT, DELETE, HEAD or POST
    std::string key;                  ///< the object key, not encoded; empty: the bucket itself
    std::string query;                ///< canonical already: sorted, percent-encoded ("list-type=2&prefix=a%2Fb")
    std::vector<std::string> headers; ///< "Name: value" lines (If-None-Match, If-Match, ...)
    std::string_view body;            ///< PUT and POST only
};

/// A reply, whatever its status.
struct s3_response {
    long status = 0;
    std::string body;
    std::string etag;           ///< without quotes
    std::string date;           ///< the server's Date header
    std::string last_modified;  ///< the Last-Modified header
    std::vector<std::pair<std::string, std::string>> metadata;  ///< x-amz-meta-* headers, names in lowercase

    /// The value of the x-amz-meta-`name` header, if any.
    [[nodiscard]] std::optional<std::string> meta(std::string_view name) const;
    /// The error code of an S3 error body (<Code>...</Code>), or empty.
    [[nodiscard]] std::string error_code() const;
};

/// Sends requests to one bucket. Thread-safe.
class s3_http {
public:
    explicit s3_http(s3_settings settings);
    ~s3_http();
    s3_http(const s3_http&) = delete;
    s3_http& operator=(const s3_http&) = delete;

    /// Sends `request`, retrying 5xx replies and broken connections until the request timeout.
    /// Returns any other reply; throws backend_error when the endpoint cannot be reached or the
    /// credentials are refused (naming the access key id, never the secret).
    s3_response send(const s3_request& request, const char* doing);

    [[nodiscard]] const s3_settings& settings() const noexcept { return settings_; }

    /// The server's clock, from the Date of every reply.
    [[nodiscard]] const server_clock& clock() const noexcept { return clock_; }

    /// How many connections the requests so far have opened (a kept-alive one is opened once).
    [[nodiscard]] std::uint64_t connections_opened() const noexcept { return connections_opened_.load(); }

private:
    struct connection;
    class pool;

    s3_settings settings_;
    std::unique_ptr<pool> pool_;
    std::atomic<std::uint64_t> connections_opened_{0};
    server_clock clock_;
};

/// `text` percent-encoded for an S3 URL path or query: every byte but A-Z a-z 0-9 - . _ ~, and '/'
/// too unless `keep_slash`.
[[nodiscard]] std::string uri_encode(std::string_view text, bool keep_slash);

}  // namespace cachier::detail::s3
