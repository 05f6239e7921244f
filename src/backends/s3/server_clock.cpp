#include "server_clock.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <string>

namespace cachier::detail::s3 {
namespace {

constexpr std::int64_t second_us = 1'000'000;

std::optional<int> number(std::string_view text) {
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::optional<std::int64_t> epoch_us(int year, int month, int day, int hour, int minute, int second) {
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
    std::tm t{};
    t.tm_year = year - 1900;
    t.tm_mon = month - 1;
    t.tm_mday = day;
    t.tm_hour = hour;
    t.tm_min = minute;
    t.tm_sec = second;
    const std::time_t seconds = ::timegm(&t);
    if (seconds == static_cast<std::time_t>(-1)) return std::nullopt;
    return static_cast<std::int64_t>(seconds) * second_us;
}

}  // namespace

std::optional<std::int64_t> parse_http_date_us(std::string_view text) {
    // "Tue, 01 Dec 2026 06:57:29 GMT"
    if (text.size() != 29 || text.substr(25) != " GMT") return std::nullopt;
    static constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int month = 0;
    for (std::size_t i = 0; i < months.size(); ++i)
        if (text.substr(8, 3) == months[i]) month = static_cast<int>(i) + 1;
    const auto day = number(text.substr(5, 2));
    const auto year = number(text.substr(12, 4));
    const auto hour = number(text.substr(17, 2));
    const auto minute = number(text.substr(20, 2));
    const auto second = number(text.substr(23, 2));
    if (!day || !year || !hour || !minute || !second || month == 0) return std::nullopt;
    return epoch_us(*year, month, *day, *hour, *minute, *second);
}

std::optional<std::int64_t> parse_iso8601_us(std::string_view text) {
    // "2026-12-01T06:57:29.780Z", fractions of any length or none
    if (text.size() < 20 || text.back() != 'Z' || text[4] != '-' || text[7] != '-' || text[10] != 'T') return std::nullopt;
    const auto year = number(text.substr(0, 4));
    const auto month = number(text.substr(5, 2));
    const auto day = number(text.substr(8, 2));
    const auto hour = number(text.substr(11, 2));
    const auto minute = number(text.substr(14, 2));
    const auto second = number(text.substr(17, 2));
    if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
    auto whole = epoch_us(*year, *month, *day, *hour, *minute, *second);
    if (!whole) return std::nullopt;
    std::int64_t fraction = 0;
    std::int64_t scale = 100'000;
    if (text.size() > 20 && text[19] == '.') {
        for (char c : text.substr(20, text.size() - 21)) {
            if (c < '0' || c > '9') return std::nullopt;
            fraction += (c - '0') * scale;
            scale /= 10;
        }
    }
    return *whole + fraction;
}

std::int64_t server_clock::steady_us(steady::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

void server_clock::sample(std::int64_t date_us, steady::time_point sent, steady::time_point received) {
    // At some instant between sent and received the server's clock read [date, date + 1 s).
    const std::int64_t low = date_us - steady_us(received);
    const std::int64_t high = date_us + second_us - steady_us(sent);
    const std::lock_guard lock(mutex_);
    if (known_ && low < high_ && high > low_) {
        low_ = std::max(low_, low);
        high_ = std::min(high_, high);
        return;
    }
    // The first reply, or one that disagrees with the others (the server's clock was set): start over.
    known_ = true;
    low_ = low;
    high_ = high;
}

std::int64_t server_clock::now_us() const {
    const auto steady_now = steady::now();
    const std::int64_t local = steady_us(steady_now);
    // This machine's own clock, as an offset to the steady clock: precise and steady from one call
    // to the next, so it is used wherever the replies allow; a clock outside the interval the
    // replies give is moved just inside it (so skewed machines agree to about a round trip).
    const std::int64_t own = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count() -
                             local;
    const std::lock_guard lock(mutex_);
    if (!known_) return local + own;
    return local + std::clamp(own, low_, high_ - 1);
}

std::int64_t server_clock::uncertainty_us() const {
    const std::lock_guard lock(mutex_);
    return known_ ? (high_ - low_) / 2 : second_us;
}

}  // namespace cachier::detail::s3
