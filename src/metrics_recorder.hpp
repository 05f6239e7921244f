#pragma once
// Per-function counters and a latency histogram. Only touched when metrics are enabled.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include <cachier/metrics.hpp>

namespace cachier::detail {

enum class counter : std::size_t {
    calls,
    hits,
    misses,
    stale_hits,
    recalculations,
    background_refreshes,
    waits,
    wait_timeouts,
    size_limit_rejections,
    backend_errors,
    corrupt_entries,
    evictions,
    function_errors,
    stale_if_error_hits,
    count_
};

/// Every count of a recorder, copied: what the metrics export adds up across the copies of a
/// function and keeps when one is destroyed.
struct recorded_counts {
    // Latency buckets grow by 2^(1/4): about 19% resolution from 1 ns to beyond an hour.
    static constexpr std::size_t bucket_count = 4 * 44;
    /// The largest latency of a bucket (exclusive).
    static std::chrono::nanoseconds bucket_upper_bound(std::size_t bucket) noexcept;

    std::array<std::uint64_t, static_cast<std::size_t>(counter::count_)> counters{};
    std::array<std::uint64_t, bucket_count> latency_buckets{};
    std::uint64_t latency_sum_ns = 0;

    [[nodiscard]] std::uint64_t operator[](counter c) const noexcept { return counters[static_cast<std::size_t>(c)]; }
    recorded_counts& operator+=(const recorded_counts& other) noexcept;
};

class metrics_recorder {
public:
    void add(counter c, std::uint64_t n = 1) noexcept {
        counters_[static_cast<std::size_t>(c)].fetch_add(n, std::memory_order_relaxed);
    }
    void record_latency(std::chrono::nanoseconds latency) noexcept;
    [[nodiscard]] metrics_snapshot snapshot() const noexcept;
    [[nodiscard]] recorded_counts counts() const noexcept;

    /// True for a `rate` fraction of calls (thread-local generator; no shared state).
    static bool sample(double rate) noexcept;

private:
    static constexpr std::size_t bucket_count = recorded_counts::bucket_count;
    static std::size_t bucket_of(std::chrono::nanoseconds latency) noexcept;
    [[nodiscard]] std::chrono::nanoseconds percentile(double p, std::uint64_t total) const noexcept;

    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(counter::count_)> counters_{};
    std::array<std::atomic<std::uint64_t>, bucket_count> latency_buckets_{};
    std::atomic<std::uint64_t> latency_sum_ns_{0};
};

}  // namespace cachier::detail
