#pragma once
/// @file units.hpp
/// @brief Value types for option fields: a duration that accepts any std::chrono duration, and a
/// byte size that accepts a count or a human-readable string such as "10KB".

#include <chrono>
#include <compare>
#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include <cachier/errors.hpp>

namespace cachier {

/// A length of time, built from any std::chrono duration (`500ms`, `24h`,
/// `std::chrono::duration<double>(1.5)`). Stored as nanoseconds, saturating at the limits.
class duration {
public:
    /// Zero.
    constexpr duration() noexcept = default;

    /// Converts any std::chrono duration; values beyond the nanosecond range saturate.
    template <class Rep, class Period>
    constexpr duration(std::chrono::duration<Rep, Period> d) noexcept  // NOLINT(google-explicit-constructor)
        : ns_(saturate(d)) {}

    /// The duration in nanoseconds.
    [[nodiscard]] constexpr std::chrono::nanoseconds get() const noexcept { return ns_; }

    /// Implicit conversion to nanoseconds.
    constexpr operator std::chrono::nanoseconds() const noexcept { return ns_; }  // NOLINT

    /// The longest duration: "never" for staleness.
    static constexpr duration max() noexcept { return duration(std::chrono::nanoseconds::max()); }

    /// Durations compare by length.
    friend constexpr auto operator<=>(const duration&, const duration&) noexcept = default;

private:
    template <class Rep, class Period>
    static constexpr std::chrono::nanoseconds saturate(std::chrono::duration<Rep, Period> d) noexcept {
        using ns = std::chrono::nanoseconds;
        if constexpr (std::is_floating_point_v<Rep>) {
            const double v = std::chrono::duration<double, std::nano>(d).count();
            if (!(v == v)) return ns::zero();  // NaN
            if (v >= 9.2e18) return ns::max();
            if (v <= -9.2e18) return ns::min();
            return ns(static_cast<ns::rep>(v));
        } else {
            using D = std::chrono::duration<Rep, Period>;
            if (d >= std::chrono::floor<D>(ns::max())) return ns::max();
            if (d <= std::chrono::ceil<D>(ns::min())) return ns::min();
            return std::chrono::duration_cast<ns>(d);
        }
    }
    std::chrono::nanoseconds ns_{0};
};

/// A number of bytes, from an integer or from a string: "512", "10KB", "1.5MB", "2GiB".
/// K, M, G and T are powers of 1024 (KB and KiB mean the same); case does not matter.
class byte_size {
public:
    /// Zero bytes.
    constexpr byte_size() noexcept = default;

    /// A byte count; a negative count throws config_error.
    template <std::integral T>
    constexpr byte_size(T bytes)  // NOLINT(google-explicit-constructor)
        : bytes_(checked(bytes)) {}

    /// Parses a human-readable size; throws config_error naming the text when it is not one.
    byte_size(std::string_view text);  // NOLINT(google-explicit-constructor)
    /// Parses a human-readable size.
    byte_size(const char* text) : byte_size(std::string_view(text)) {}  // NOLINT
    /// Parses a human-readable size.
    byte_size(const std::string& text) : byte_size(std::string_view(text)) {}  // NOLINT

    /// The number of bytes.
    [[nodiscard]] constexpr std::uint64_t bytes() const noexcept { return bytes_; }

    /// The largest size: "no limit".
    static constexpr byte_size unlimited() noexcept {
        return byte_size(std::numeric_limits<std::uint64_t>::max());
    }

    /// Sizes compare by byte count.
    friend constexpr auto operator<=>(const byte_size&, const byte_size&) noexcept = default;

private:
    template <std::integral T>
    static constexpr std::uint64_t checked(T v) {
        if constexpr (std::is_signed_v<T>) {
            if (v < 0) throw config_error("a byte size cannot be negative");
        }
        return static_cast<std::uint64_t>(v);
    }
    std::uint64_t bytes_ = 0;
};

}  // namespace cachier
