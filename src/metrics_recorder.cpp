#include "metrics_recorder.hpp"

#include <bit>
#include <cmath>

namespace cachier::detail {

std::size_t metrics_recorder::bucket_of(std::chrono::nanoseconds latency) noexcept {
    const auto ns = static_cast<double>(std::max<std::int64_t>(latency.count(), 1));
    const auto bucket = static_cast<std::size_t>(std::log2(ns) * 4.0);
    return std::min(bucket, bucket_count - 1);
}

std::chrono::nanoseconds recorded_counts::bucket_upper_bound(std::size_t bucket) noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(std::exp2(static_cast<double>(bucket + 1) / 4.0)));
}

recorded_counts& recorded_counts::operator+=(const recorded_counts& other) noexcept {
    for (std::size_t i = 0; i < counters.size(); ++i) counters[i] += other.counters[i];
    for (std::size_t i = 0; i < latency_buckets.size(); ++i) latency_buckets[i] += other.latency_buckets[i];
    latency_sum_ns += other.latency_sum_ns;
    return *this;
}

void metrics_recorder::record_latency(std::chrono::nanoseconds latency) noexcept {
    latency_buckets_[bucket_of(latency)].fetch_add(1, std::memory_order_relaxed);
    latency_sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count(), 0)),
                              std::memory_order_relaxed);
}

recorded_counts metrics_recorder::counts() const noexcept {
    recorded_counts out;
    for (std::size_t i = 0; i < out.counters.size(); ++i) out.counters[i] = counters_[i].load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < bucket_count; ++i)
        out.latency_buckets[i] = latency_buckets_[i].load(std::memory_order_relaxed);
    out.latency_sum_ns = latency_sum_ns_.load(std::memory_order_relaxed);
    return out;
}

std::chrono::nanoseconds metrics_recorder::percentile(double p, std::uint64_t total) const noexcept {
    if (total == 0) return std::chrono::nanoseconds(0);
    const auto rank = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(total)));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < bucket_count; ++b) {
        seen += latency_buckets_[b].load(std::memory_order_relaxed);
        if (seen >= rank) return recorded_counts::bucket_upper_bound(b);
    }
    return recorded_counts::bucket_upper_bound(bucket_count - 1);
}

metrics_snapshot metrics_recorder::snapshot() const noexcept {
    auto get = [this](counter c) { return counters_[static_cast<std::size_t>(c)].load(std::memory_order_relaxed); };
    metrics_snapshot s;
    s.calls = get(counter::calls);
    s.hits = get(counter::hits);
    s.misses = get(counter::misses);
    s.stale_hits = get(counter::stale_hits);
    s.recalculations = get(counter::recalculations);
    s.background_refreshes = get(counter::background_refreshes);
    s.waits = get(counter::waits);
    s.wait_timeouts = get(counter::wait_timeouts);
    s.size_limit_rejections = get(counter::size_limit_rejections);
    s.corrupt_entries = get(counter::corrupt_entries);
    s.backend_errors = get(counter::backend_errors);
    s.evictions = get(counter::evictions);
    s.function_errors = get(counter::function_errors);
    s.stale_if_error_hits = get(counter::stale_if_error_hits);
    std::uint64_t total = 0;
    for (const auto& b : latency_buckets_) total += b.load(std::memory_order_relaxed);
    s.latency_samples = total;
    s.latency_p50 = percentile(0.50, total);
    s.latency_p99 = percentile(0.99, total);
    return s;
}

bool metrics_recorder::sample(double rate) noexcept {
    if (rate >= 1.0) return true;
    if (rate <= 0.0) return false;
    thread_local std::uint64_t state = 0x9e3779b97f4a7c15ULL ^ reinterpret_cast<std::uintptr_t>(&state);
    // xorshift64*: cheap and good enough to pick calls to time.
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    const std::uint64_t r = state * 0x2545f4914f6cdd1dULL;
    return static_cast<double>(r >> 11) * 0x1.0p-53 < rate;
}

}  // namespace cachier::detail
