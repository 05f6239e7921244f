#include "value_tier.hpp"

#include <ctime>
#include <mutex>
#include <thread>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace cachier::detail {
namespace {

// The coarse monotonic clock: a few nanoseconds to read, a few milliseconds of resolution (the
// memory backend's hits use the same).
std::int64_t coarse_now_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The innermost own_call of this thread (calls nest when a cached function calls another).
thread_local const value_tier::own_call* innermost_call = nullptr;

}  // namespace

value_tier::value_tier(std::string function, std::size_t max_entries)
    : function_(std::move(function)), max_per_shard_(std::max<std::size_t>(1, max_entries / shard_count)) {}

void value_tier::spin_lock::lock() noexcept {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
        while (locked_.load(std::memory_order_relaxed)) {
            if (++spins > 64) std::this_thread::yield();  // the holder was descheduled
        }
    }
}

value_tier::key_view value_tier::view_of(std::string_view key) noexcept {
    return {key, XXH3_64bits(key.data(), key.size())};
}

bool value_tier::read(std::string_view key, std::chrono::nanoseconds max_age, bool early_refresh,
                      call_site& site) const {
    if (max_age < std::chrono::nanoseconds::zero()) return false;
    const key_view k = view_of(key);
    const shard& s = shard_for(k);
    std::shared_ptr<const void> reference;
    {
        const std::lock_guard lock(s.lock);
        const auto found = s.entries.find(k);
        if (found == s.entries.end()) return false;
        if (max_age != std::chrono::nanoseconds::max()) {
            const std::int64_t age = coarse_now_ns() - found->second.stored_at;
            std::int64_t limit = max_age.count();
            if (early_refresh) limit -= limit / 10;  // the engine decides whether to refresh it early
            if (age > limit) return false;
        }
        if (site.copies_cheaply()) {
            site.take(found->second.value.get());
            return true;
        }
        reference = found->second.value;
    }
    site.take(reference.get());
    return true;
}

std::uint64_t value_tier::stamp(std::string_view key) const noexcept {
    return shard_for(view_of(key)).changes.load(std::memory_order_acquire);
}

void value_tier::keep(std::string_view key, std::shared_ptr<const void> value, std::chrono::nanoseconds age,
                      std::uint64_t stamp) {
    const key_view k = view_of(key);
    shard& s = shard_for(k);
    const std::int64_t stored_at = coarse_now_ns() - age.count();
    std::shared_ptr<const void> replaced;  // released after the lock
    const std::lock_guard lock(s.lock);
    if (s.changes.load(std::memory_order_relaxed) != stamp) {
        forget_in(s, k);  // the key may have changed: the backend has the truth
        return;
    }
    const auto found = s.entries.find(k);
    if (found != s.entries.end()) {
        replaced = std::exchange(found->second.value, std::move(value));
        found->second.stored_at = stored_at;
        return;
    }
    if (s.entries.size() >= max_per_shard_) s.entries.erase(s.entries.begin());  // any value: the backend keeps it
    s.entries.emplace(stored_key{std::string(key), k.hash}, entry{std::move(value), stored_at});
}

void value_tier::forget(std::string_view key) {
    const key_view k = view_of(key);
    shard& s = shard_for(k);
    const std::lock_guard lock(s.lock);
    forget_in(s, k);
}

void value_tier::forget_in(shard& s, const key_view& key) {
    const auto found = s.entries.find(key);
    if (found != s.entries.end()) s.entries.erase(found);
}

void value_tier::on_change(const change_event& event) noexcept {
    if (event.kind == change_kind::claim_released || event.function != function_) return;
    if (!event.key.empty()) {
        if (is_own_change(event.key)) return;
        const key_view k = view_of(event.key);
        shard& s = shard_for(k);
        const std::lock_guard lock(s.lock);
        s.changes.fetch_add(1, std::memory_order_release);
        forget_in(s, k);
        return;
    }
    for (shard& s : shards_) {
        const std::lock_guard lock(s.lock);
        s.changes.fetch_add(1, std::memory_order_release);
        s.entries.clear();
    }
}

bool value_tier::is_own_change(std::string_view key) const noexcept {
    for (const own_call* call = innermost_call; call != nullptr; call = call->outer_)
        if (call->tier_ == this && call->key_ == key) return true;
    return false;
}

value_tier::own_call::own_call(const value_tier& tier, std::string_view key) noexcept
    : tier_(&tier), key_(key), outer_(innermost_call) {
    innermost_call = this;
}

value_tier::own_call::~own_call() { innermost_call = outer_; }

}  // namespace cachier::detail
