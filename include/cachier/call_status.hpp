#pragma once
/// @file call_status.hpp
/// @brief How a cached call obtained its value (cached_function::call_with_status).

#include <cstdint>
#include <string_view>

namespace cachier {

/// How one cached call obtained the value it returned.
enum class call_status : std::uint8_t {
    fresh_hit,  ///< a fresh stored value; the function was not called
    stale_hit,  ///< a stale stored value, returned at once while a background refresh runs (next_time)
    computed,   ///< this caller ran the function: a miss, a stale value, overwrite_cache, a wait past
                ///< wait_for_calc_timeout, or a backend that failed
    waited,     ///< another caller (thread, process or machine) computed the value; this one waited for it
    skipped,    ///< the cache was bypassed (skip_cache, or caching disabled): the function ran, nothing was stored
    stale_on_error,  ///< the function threw and a stored value no older than stale_if_error was returned
};

/// The status's name as written above ("fresh_hit", ...), for logs.
[[nodiscard]] constexpr std::string_view to_string(call_status status) noexcept {
    switch (status) {
        case call_status::fresh_hit: return "fresh_hit";
        case call_status::stale_hit: return "stale_hit";
        case call_status::computed: return "computed";
        case call_status::waited: return "waited";
        case call_status::skipped: return "skipped";
        case call_status::stale_on_error: return "stale_on_error";
    }
    return "unknown";
}

/// A value and how the call obtained it; `auto [value, status] = f.call_with_status(...)`.
template <class R>
struct call_result {
    R value;             ///< what the call returned
    call_status status;  ///< how it was obtained
};

}  // namespace cachier
