#include "s3_http.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <random>
#include <thread>

#include <curl/curl.h>

#include <cachier/errors.hpp>

#include "../../digest.hpp"
#include "../../random_seed.hpp"
#include "../common/connection_pool.hpp"

namespace cachier::detail::s3 {
namespace {

using steady = std::chrono::steady_clock;

/// A broken connection or an endpoint that cannot be reached: worth another attempt.
struct transport_failure {
    std::string message;
};

void init_curl() {
    static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
    if (!done) throw backend_error("s3: libcurl could not be initialized");
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string trimmed(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
    return std::string(text);
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* response) {
    static_cast<s3_response*>(response)->body.append(data, size * count);
    return size * count;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* out) {
    auto& response = *static_cast<s3_response*>(out);
    const std::string_view line(data, size * count);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return size * count;
    const std::string name = lowercase(line.substr(0, colon));
    std::string value = trimmed(line.substr(colon + 1));
    if (name == "etag") {
        value.erase(std::remove(value.begin(), value.end(), '"'), value.end());
        response.etag = value;
    } else if (name == "date") {
        response.date = value;
    } else if (name == "last-modified") {
        response.last_modified = value;
    } else if (name.rfind("x-amz-meta-", 0) == 0) {
        response.metadata.emplace_back(name.substr(11), value);
    }
    return size * count;
}

/// curl_slist owned here.
class header_list {
public:
    header_list() = default;
    ~header_list() { curl_slist_free_all(list_); }
    header_list(const header_list&) = delete;
    header_list& operator=(const header_list&) = delete;
    void add(const std::string& line) {
        curl_slist* grown = curl_slist_append(list_, line.c_str());
        if (grown == nullptr) throw backend_error("s3: out of memory for request headers");
        list_ = grown;
    }
    [[nodiscard]] curl_slist* get() const noexcept { return list_; }

private:
    curl_slist* list_ = nullptr;
};

std::chrono::milliseconds jittered(std::chrono::milliseconds backoff) {
    thread_local std::minstd_rand random{static_cast<std::uint_fast32_t>(detail::random_seed())};
    std::uniform_int_distribution<long> pick(backoff.count() / 2, backoff.count());
    return std::chrono::milliseconds(pick(random));
}

}  // namespace

std::string uri_encode(std::string_view text, bool keep_slash) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xF];
        }
    }
    return out;
}

std::optional<std::string> s3_response::meta(std::string_view name) const {
    for (const auto& [n, v] : metadata)
        if (n == name) return v;
    return std::nullopt;
}

std::string s3_response::error_code() const {
    const auto start = body.find("<Code>");
    const auto end = body.find("</Code>");
    if (start == std::string::npos || end == std::string::npos || end < start) return {};
    return body.substr(start + 6, end - start - 6);
}

struct s3_http::connection {
    CURL* handle = curl_easy_init();
    bool broken = false;
    connection() {
        if (handle == nullptr) throw backend_error("s3: libcurl could not make a handle");
    }
    ~connection() { curl_easy_cleanup(handle); }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    [[nodiscard]] bool usable() const { return !broken; }
};

class s3_http::pool : public connection_pool<connection> {
public:
    using connection_pool<connection>::connection_pool;
};

s3_http::s3_http(s3_settings settings) : settings_(std::move(settings)) {
    init_curl();
    pool_ = std::make_unique<pool>([] { return std::make_unique<connection>(); }, settings_.pool_size,
                                   settings_.request_timeout, settings_.description());
}

s3_http::~s3_http() = default;

s3_response s3_http::send(const s3_request& request, const char* doing) {
    const auto deadline = steady::now() + settings_.request_timeout;
    // Built once: the URL, the signing scope and the headers are the same on every attempt.
    const std::string host_part = settings_.endpoint.substr(settings_.endpoint.find("://") + 3);
    const std::string scheme = settings_.endpoint.substr(0, settings_.endpoint.find("://"));
    std::string url = settings_.path_style ? settings_.endpoint + "/" + settings_.bucket
                                           : scheme + "://" + settings_.bucket + "." + host_part;
    if (!request.key.empty() || !settings_.path_style) url += "/" + uri_encode(request.key, true);
    if (!request.query.empty()) url += "?" + request.query;
    const std::string scope = "aws:amz:" + settings_.region + ":s3";
    const std::string method = request.method;
    const bool has_body = method == "PUT" || method == "POST";
    header_list headers;
    headers.add("x-amz-content-sha256: " + std::string(sha256_hex(request.body).view()));
    if (!settings_.session_token.empty()) headers.add("x-amz-security-token: " + settings_.session_token);
    if (has_body) headers.add("Content-Type: application/octet-stream");
    for (const auto& line : request.headers) headers.add(line);

    auto backoff = std::chrono::milliseconds(25);
    std::string last_failure;
    for (;;) {
        s3_response response;
        try {
            auto c = pool_->acquire();
            CURL* h = c->handle;
            curl_easy_reset(h);  // keeps the connection cache: the next request reuses the socket
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
            if (left <= std::chrono::milliseconds::zero()) throw transport_failure{"no time left"};
            std::array<char, CURL_ERROR_SIZE> error{};
            curl_easy_setopt(h, CURLOPT_URL, url.c_str());
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error.data());
            curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(left, settings_.connect_timeout).count()));
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
            curl_easy_setopt(h, CURLOPT_AWS_SIGV4, scope.c_str());
            curl_easy_setopt(h, CURLOPT_USERNAME, settings_.access_key_id.c_str());
            curl_easy_setopt(h, CURLOPT_PASSWORD, settings_.secret_access_key.c_str());
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
            curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
            curl_easy_setopt(h, CURLOPT_HEADERDATA, &response);
            if (method == "HEAD") {
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
            } else if (has_body) {
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
            } else if (method != "GET") {
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method);
            }
            const auto sent = steady::now();
            const CURLcode rc = curl_easy_perform(h);
            if (rc != CURLE_OK) {
                c->broken = true;
                throw transport_failure{error[0] != '\0' ? std::string(error.data()) : curl_easy_strerror(rc)};
            }
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
            if (const auto date = parse_http_date_us(response.date)) clock_.sample(*date, sent, steady::now());
            long opened = 0;
            curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &opened);
            connections_opened_ += static_cast<std::uint64_t>(opened);
        } catch (const transport_failure& failure) {
            last_failure = failure.message;
            response.status = 0;
        } catch (const backend_error& e) {  // the pool: no connection free, or a recent failure
            last_failure = e.what();
            response.status = 0;
        }
        if (response.status > 0 && response.status < 500) {
            if (response.status == 403) {
                const std::string code = response.error_code();
                if (code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" || code == "AccessDenied" ||
                    code == "InvalidToken" || code == "ExpiredToken")
                    throw backend_error(settings_.description() + " could not " + doing + ": access key id " +
                                        settings_.access_key_id + " was refused (" + code + ")");
            }
            return response;
        }
        if (response.status >= 500)
            last_failure = "HTTP " + std::to_string(response.status) +
                           (response.error_code().empty() ? "" : " " + response.error_code());
        const auto pause = jittered(backoff);
        if (steady::now() + pause >= deadline)
            throw backend_error(settings_.description() + " could not " + doing + ": " + last_failure);
        std::this_thread::sleep_for(pause);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
}

}  // namespace cachier::detail::s3
