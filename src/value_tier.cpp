#include "value_tier.hpp"

#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include <utility>

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

value_tier::value_tier(std::string function, std::size_t max_entries, std::chrono::nanoseconds max_age_unheard,
                       bool digested)
    : function_(std::move(function)), max_per_shard_(std::max<std::size_t>(1, max_entries / shard_count)),
      max_age_unheard_(max_age_unheard.count()), digested_(digested) {}

void value_tier::spin_lock::lock() noexcept {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
        while (locked_.load(std::memory_order_relaxed)) {
            if (++spins > 64) std::this_thread::yield();  // the holder was descheduled
        }
    }
}

bool value_tier::fresh(std::int64_t stored_at, std::int64_t kept_at, std::chrono::nanoseconds max_age,
                       bool early_refresh) const noexcept {
    const bool ages = max_age != std::chrono::nanoseconds::max();
    const bool unheard = max_age_unheard_ != std::chrono::nanoseconds::max().count();
    if (!ages && !unheard) return true;
    const std::int64_t now = coarse_now_ns();
    if (unheard && now - kept_at > max_age_unheard_) return false;
    if (!ages) return true;
    std::int64_t limit = max_age.count();
    if (early_refresh) limit -= limit / 10;  // the engine decides whether to refresh it early
    return now - stored_at <= limit;
}

bool value_tier::read(std::string_view key, std::chrono::nanoseconds max_age, bool early_refresh,
                      call_site& site) const {
    if (max_age < std::chrono::nanoseconds::zero()) return false;
    const key_view k = view_of(key);
    const shard& s = shard_for(k);
    if (site.inline_size() > 0 && key.size() <= small_value_table::max_key_size) {
        small_entry found;
        if (!s.small.find(k.bytes, k.hash, found) || !fresh(found.stored_at, found.kept_at, max_age, early_refresh))
            return false;
        site.take(found.bytes.data());
        return true;
    }
    std::shared_ptr<const void> reference;
    {
        const spread_lock::read_guard lock(s.lock);
        const entry* found = s.entries.find(k.bytes, k.hash);
        if (found == nullptr || !fresh(found->stored_at, found->kept_at, max_age, early_refresh)) return false;
        if (site.copies_cheaply()) {
            site.take(found->value.get());
            return true;
        }
        reference = found->value;
    }
    site.take_shared(std::move(reference));
    return true;
}

std::uint64_t value_tier::stamp(std::string_view entry) const noexcept {
    return stripe_for(view_of(entry)).changes.load(std::memory_order_acquire);
}

void value_tier::keep(std::string_view key, std::string_view entry_name, std::shared_ptr<const void> value,
                      std::size_t inline_size, std::chrono::nanoseconds age, std::uint64_t stamp) {
    const key_view k = view_of(key);
    const key_view e = digested_ ? view_of(entry_name) : k;
    const std::int64_t now = coarse_now_ns();
    entry replaced{};  // released after the locks
    stripe& st = stripe_for(e);
    const std::lock_guard stripe_lock(st.lock);
    shard& s = shard_for(k);
    if (st.changes.load(std::memory_order_relaxed) != stamp || st.in_flight > 0) {
        const spread_lock::write_guard lock(s.lock);
        erase(s, k);  // the entry may have changed: the backend has the truth
        return;
    }
    if (digested_) {
        if (st.arguments.size() >= 2 * max_per_shard_) {
            // Index entries of values dropped for room pile up: start the stripe afresh, with the
            // values it names.
            st.arguments.clear();
            const auto named_here = [&](std::uint64_t entry_hash) {
                return &stripe_for(key_view{{}, entry_hash}) == &st;
            };
            for (shard& other : shards_) {
                const spread_lock::write_guard lock(other.lock);
                other.entries.erase_if([&](const entry& kept) { return named_here(kept.entry_hash); });
                other.small.erase_if([&](const small_entry& kept) { return named_here(kept.entry_hash); });
            }
        }
        st.arguments.insert_or_assign(stored_key{std::string(entry_name), e.hash}, std::string(key));
    }
    const spread_lock::write_guard lock(s.lock);
    const std::int64_t stored_at = now - age.count();
    if (inline_size > 0 && inline_size <= sizeof(small_entry::bytes) && key.size() <= small_value_table::max_key_size &&
        value) {
        small_entry kept;
        std::memcpy(kept.bytes.data(), value.get(), inline_size);
        kept.stored_at = stored_at;
        kept.kept_at = now;
        kept.entry_hash = e.hash;
        if (small_entry present; s.small.size() >= max_per_shard_ && !s.small.find(k.bytes, k.hash, present))
            s.small.erase_any();  // any value: the backend keeps it
        s.small.insert_or_assign(k.bytes, k.hash, kept);
        return;
    }
    if (s.entries.size() >= max_per_shard_ && s.entries.find(k.bytes, k.hash) == nullptr)
        s.entries.erase_any();  // any value: the backend keeps it
    replaced = s.entries.insert_or_assign(k.bytes, k.hash, entry{std::move(value), stored_at, now, e.hash});
}

void value_tier::forget(std::string_view key) {
    const key_view k = view_of(key);
    shard& s = shard_for(k);
    const spread_lock::write_guard lock(s.lock);
    erase(s, k);
}

void value_tier::erase(shard& s, const key_view& key) noexcept {
    s.entries.erase(key.bytes, key.hash);
    s.small.erase(key.bytes, key.hash);
}

namespace {

/// Moves a count of changes in flight by an event (never below zero: a change announced before the
/// tier listened settles unannounced).
void count_in_flight(std::uint32_t& in_flight, change_kind kind) noexcept {
    if (kind == change_kind::changing) ++in_flight;
    else if (kind == change_kind::settled && in_flight > 0) --in_flight;
}

}  // namespace

void value_tier::on_function_change(change_kind kind) noexcept {
    for (stripe& st : stripes_) {
        const std::lock_guard lock(st.lock);
        st.changes.fetch_add(1, std::memory_order_release);
        count_in_flight(st.in_flight, kind);
        st.arguments.clear();
    }
    if (kind == change_kind::settled) return;
    for (shard& s : shards_) {
        const spread_lock::write_guard lock(s.lock);
        s.entries.clear();
        s.small.clear();
    }
}

void value_tier::on_change(const change_event& event) noexcept {
    if (event.kind == change_kind::claim_released || event.function != function_) return;
    if (event.key.empty()) {
        on_function_change(event.kind);
        return;
    }
    const key_view e = view_of(event.key);
    stripe& st = stripe_for(e);
    const std::lock_guard stripe_lock(st.lock);
    const std::uint64_t changes = st.changes.fetch_add(1, std::memory_order_release) + 1;
    count_in_flight(st.in_flight, event.kind);
    if (const own_call* own = own_call_of(event.key)) {
        own->stamp_ = changes;  // the call's own change: it keeps or forgets the value itself
        return;
    }
    if (event.kind == change_kind::settled) return;  // the change itself was heard before
    if (!digested_) {
        shard& s = shard_for(e);
        const spread_lock::write_guard lock(s.lock);
        erase(s, e);
        return;
    }
    const auto named = st.arguments.find(e);
    if (named == st.arguments.end()) return;
    const key_view k = view_of(named->second);
    {
        shard& s = shard_for(k);
        const spread_lock::write_guard lock(s.lock);
        erase(s, k);
    }
    st.arguments.erase(named);
}

const value_tier::own_call* value_tier::own_call_of(std::string_view entry) const noexcept {
    for (const own_call* call = innermost_call; call != nullptr; call = call->outer_)
        if (call->tier_ == this && call->entry_ == entry) return call;
    return nullptr;
}

value_tier::own_call::own_call(const value_tier& tier, std::string_view entry, std::uint64_t stamp) noexcept
    : tier_(&tier), entry_(entry), outer_(innermost_call), stamp_(stamp) {
    innermost_call = this;
}

value_tier::own_call::~own_call() { innermost_call = outer_; }

}  // namespace cachier::detail
