#pragma once
// The in-process tier of one cached function: decoded values (shared, immutable) by the encoded
// arguments, in front of the function's backend, so that a hit neither reads nor decodes stored
// bytes, nor digests its key. It hears every change of the backend as a change sink and forgets what
// changed (events name entries by their backend key: an index maps digests back to arguments). A
// call that looked at the backend keeps its value only if its key did not change meanwhile (a stamp
// read before the look), so a value overwritten during the look is never kept. Where the backend
// does not push other processes' changes, a value is served for at most its `max_age_unheard`.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <cachier/backend.hpp>
#include <cachier/detail/engine.hpp>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "byte_key_table.hpp"
#include "fork.hpp"
#include "small_value_table.hpp"
#include "spread_lock.hpp"

namespace cachier::detail {

class value_tier final : public change_sink {
public:
    /// The tier of the entries stored under `function`, keeping at most about `max_entries` values,
    /// each for at most `max_age_unheard` after it was read or stored (the largest duration: as long
    /// as no change is heard). `digested`: the backend names entries by a digest of the arguments.
    value_tier(std::string function, std::size_t max_entries, std::chrono::nanoseconds max_age_unheard, bool digested);

    /// Copies the value of `key` (the encoded arguments) into `site` when the tier keeps one no
    /// older than `max_age`; with `early_refresh`, a value in the last tenth of its life is left to
    /// the engine, which may refresh it.
    bool read(std::string_view key, std::chrono::nanoseconds max_age, bool early_refresh, call_site& site) const;

    /// The change count of the entry named `entry` in the backend: read before a call looks at it.
    [[nodiscard]] std::uint64_t stamp(std::string_view entry) const noexcept;

    /// Keeps `value` (stored `age` ago) for `key`, whose backend entry is `entry`, unless a change of
    /// that entry was heard since `stamp` (this call's own changes aside) or one is being made.
    /// With `inline_size` (call_site::inline_size) and a short key, the value's bytes are kept in
    /// place of `value`.
    void keep(std::string_view key, std::string_view entry, std::shared_ptr<const void> value, std::size_t inline_size,
              std::chrono::nanoseconds age, std::uint64_t stamp);

    /// Drops the value of `key`.
    void forget(std::string_view key);

    void on_change(const change_event& event) noexcept override;

private:
    void on_function_change(change_kind kind) noexcept;

public:

    /// Marks the calling thread's changes to one entry as a call's own while it lives: the call keeps
    /// or forgets the entry's value itself when it ends, so the tier does not forget it on hearing
    /// them; a change made after the call's own last one still prevents keeping its value.
    class own_call {
    public:
        own_call(const value_tier& tier, std::string_view entry, std::uint64_t stamp) noexcept;
        ~own_call();
        own_call(const own_call&) = delete;
        own_call& operator=(const own_call&) = delete;

        /// The stamp to keep the call's value with: the entry's change count after its own last change.
        [[nodiscard]] std::uint64_t stamp() const noexcept { return stamp_; }

    private:
        friend class value_tier;
        const value_tier* tier_;
        std::string_view entry_;
        const own_call* outer_;
        mutable std::uint64_t stamp_;
    };

private:
    /// Bytes with their hash (computed once per lookup).
    struct key_view {
        std::string_view bytes;
        std::uint64_t hash;
    };
    struct stored_key {
        std::string bytes;
        std::uint64_t hash;
    };
    struct key_hash {
        using is_transparent = void;
        std::size_t operator()(const stored_key& k) const noexcept { return k.hash; }
        std::size_t operator()(const key_view& k) const noexcept { return k.hash; }
    };
    struct key_equal {
        using is_transparent = void;
        template <class A, class B>
        bool operator()(const A& a, const B& b) const noexcept {
            return a.hash == b.hash && std::string_view(a.bytes) == std::string_view(b.bytes);
        }
    };
    struct entry {
        std::shared_ptr<const void> value;
        std::int64_t stored_at;  // coarse monotonic clock, ns
        std::int64_t kept_at;    // when it was last read or stored, same clock
        std::uint64_t entry_hash;  // of its backend entry's name: which stripe names it
    };
    /// Held briefly, on the paths that change the tier (never by a hit).
    class spin_lock {
    public:
        void lock() noexcept;
        void unlock() noexcept { locked_.store(false, std::memory_order_release); }
        /// Unlocked again in a forked child (see fork.hpp).
        void renew() noexcept { locked_.store(false, std::memory_order_relaxed); }

    private:
        std::atomic<bool> locked_{false};
    };
    /// Values by encoded arguments. Small values with short keys (call_site::inline_size) are held
    /// in place in `small`, read without a lock; the others in `entries`, where a hit locks the slot
    /// of its CPU only, so that hits on different cores write no common cache line, and a large
    /// value is copied after the lock is released. Every writer holds the whole lock.
    struct alignas(64) shard {
        mutable spread_lock lock;
        byte_key_table<entry> entries;
        small_value_table small;
    };
    /// Change counts by backend entry, and (digested backends) which arguments an entry holds.
    /// Taken before a shard when both are.
    struct alignas(64) stripe {
        mutable spin_lock lock;
        std::atomic<std::uint64_t> changes{0};  // written under the lock
        std::uint32_t in_flight = 0;             // changes announced by this process and not settled
        std::unordered_map<stored_key, std::string, key_hash, key_equal> arguments;
    };
    static constexpr std::size_t shard_count = 32;

    [[nodiscard]] static key_view view_of(std::string_view bytes) noexcept {
        return {bytes, XXH3_64bits(bytes.data(), bytes.size())};
    }
    [[nodiscard]] shard& shard_for(const key_view& key) const noexcept { return shards_[key.hash >> 59]; }
    [[nodiscard]] stripe& stripe_for(const key_view& entry) const noexcept { return stripes_[entry.hash >> 59]; }
    [[nodiscard]] const own_call* own_call_of(std::string_view entry) const noexcept;
    /// Whether a value stored at `stored_at` and kept at `kept_at` may be served.
    [[nodiscard]] bool fresh(std::int64_t stored_at, std::int64_t kept_at, std::chrono::nanoseconds max_age,
                             bool early_refresh) const noexcept;
    /// Drops the value of `key` from both tables; the caller holds the shard's whole lock.
    static void erase(shard& s, const key_view& key) noexcept;

    const std::string function_;
    const std::size_t max_per_shard_;
    const std::int64_t max_age_unheard_;  // ns; the largest value: unbounded
    const bool digested_;
    mutable std::array<shard, shard_count> shards_;
    mutable std::array<stripe, shard_count> stripes_;
    on_fork_child fork_{[this] {
        for (auto& s : shards_) {
            s.lock.renew();
            s.small.renew();
        }
        for (auto& st : stripes_) st.lock.renew();
    }};
};

}  // namespace cachier::detail
