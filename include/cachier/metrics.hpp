#pragma once
/// @file metrics.hpp
/// @brief Counters and latencies of one cached function.

#include <chrono>
#include <cstdint>
#include <optional>

namespace cachier {

/// A point-in-time copy of one cached function's metrics. All zero unless `enable_metrics` is on.
struct metrics_snapshot {
    std::uint64_t calls = 0;                  ///< cached calls made (not counting skip_cache or disabled caching)
    std::uint64_t hits = 0;                   ///< calls answered with a fresh stored value
    std::uint64_t misses = 0;                 ///< calls that found no usable value
    std::uint64_t stale_hits = 0;             ///< calls that found a stale value
    std::uint64_t recalculations = 0;         ///< times the function ran on behalf of the cache
    std::uint64_t background_refreshes = 0;   ///< recalculations done in the background (next_time, early_refresh)
    std::uint64_t waits = 0;                  ///< calls that waited for another caller's computation
    std::uint64_t wait_timeouts = 0;          ///< waits that passed wait_for_calc_timeout
    std::uint64_t size_limit_rejections = 0;  ///< values not stored because of entry_size_limit
    std::uint64_t backend_errors = 0;         ///< backend operations that failed
    /// stored entries refused and recomputed: damaged, truncated, stored under another key or
    /// function, written by another release, or not decodable as the result type
    std::uint64_t corrupt_entries = 0;
    std::uint64_t evictions = 0;              ///< values removed to keep max_entries / max_bytes
    std::uint64_t function_errors = 0;        ///< times the function threw when called for the cache
    std::uint64_t stale_if_error_hits = 0;    ///< calls answered with a stale value because the function threw
    std::uint64_t latency_samples = 0;        ///< calls whose latency was sampled
    std::chrono::nanoseconds latency_p50{0};  ///< median latency of the sampled calls
    std::chrono::nanoseconds latency_p99{0};  ///< 99th percentile latency of the sampled calls
    std::optional<std::uint64_t> entry_count; ///< entries stored, where the backend can count cheaply

    /// Fresh hits over calls, 0 when there were none.
    [[nodiscard]] double hit_rate() const noexcept {
        return calls == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(calls);
    }
};

}  // namespace cachier
