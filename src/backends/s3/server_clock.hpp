#pragma once
// The S3 server's clock, as seen from this process: S3 replies carry their time only to the second
// (the Date header), so each reply bounds the offset between the server's clock and this process's
// steady clock to an interval, and the intersection of the intervals of many replies narrows it
// to about a round trip. This machine's clock is used as long as it lies inside that interval (a
// synchronized clock: exact ages), and moved to its nearest edge otherwise, so that machines whose
// clocks are skewed agree on ages and leases.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

namespace cachier::detail::s3 {

/// Microseconds since the Unix epoch of an HTTP date ("Tue, 01 Dec 2026 06:57:29 GMT").
std::optional<std::int64_t> parse_http_date_us(std::string_view text);

/// Microseconds since the Unix epoch of an ISO 8601 time as S3 listings give it
/// ("2026-12-01T06:57:29.780Z").
std::optional<std::int64_t> parse_iso8601_us(std::string_view text);

class server_clock {
public:
    using steady = std::chrono::steady_clock;

    /// A reply whose Date says `date_us` (a whole second) came back between `sent` and `received`.
    void sample(std::int64_t date_us, steady::time_point sent, steady::time_point received);

    /// The server's time now, in microseconds since the epoch; this machine's clock until a reply
    /// has been sampled.
    [[nodiscard]] std::int64_t now_us() const;

    /// How far now_us() may be off, in microseconds (half the width of the offset's interval).
    [[nodiscard]] std::int64_t uncertainty_us() const;

private:
    static std::int64_t steady_us(steady::time_point t);

    mutable std::mutex mutex_;
    bool known_ = false;
    std::int64_t low_ = 0;   // the offset (server time - steady time) is at least this
    std::int64_t high_ = 0;  // and below this
};

}  // namespace cachier::detail::s3
