#pragma once
// The in-process tier of one cached function: decoded values (shared, immutable) by the encoded
// arguments, in front of the function's backend, so that a hit neither reads nor decodes stored
// bytes. It hears every change of the backend as a change sink and forgets what changed; a call that
// looked at the backend keeps its value only if its key did not change meanwhile (a stamp read
// before the look), so a value overwritten during the look is never kept.

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

namespace cachier::detail {

class value_tier final : public change_sink {
public:
    /// The tier of the entries stored under `function`, keeping at most about `max_entries` values.
    value_tier(std::string function, std::size_t max_entries);

    /// Copies the value of `key` into `site` when the tier keeps one no older than `max_age`; with
    /// `early_refresh`, a value in the last tenth of its life is left to the engine, which may
    /// refresh it.
    bool read(std::string_view key, std::chrono::nanoseconds max_age, bool early_refresh, call_site& site) const;

    /// The change count of `key`'s shard: read before a call looks at the backend.
    [[nodiscard]] std::uint64_t stamp(std::string_view key) const noexcept;

    /// Keeps `value` (stored `age` ago) for `key`, unless a change of its shard was heard since
    /// `stamp`.
    void keep(std::string_view key, std::shared_ptr<const void> value, std::chrono::nanoseconds age, std::uint64_t stamp);

    /// Drops the value of `key`.
    void forget(std::string_view key);

    void on_change(const change_event& event) noexcept override;

    /// Marks the calling thread's changes to one key as a call's own while it lives: the call keeps
    /// or forgets the key's value itself when it ends, so the tier does not forget it on hearing them.
    class own_call {
    public:
        own_call(const value_tier& tier, std::string_view key) noexcept;
        ~own_call();
        own_call(const own_call&) = delete;
        own_call& operator=(const own_call&) = delete;

    private:
        friend class value_tier;
        const value_tier* tier_;
        std::string_view key_;
        const own_call* outer_;
    };

private:
    /// A key with its hash (computed once per call: it picks the shard and the bucket).
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
    };
    /// Held for a lookup only (one atomic exchange, a plain store to release): hits of different
    /// keys rarely meet on a shard, and a large value is copied after the lock is released.
    class spin_lock {
    public:
        void lock() noexcept;
        void unlock() noexcept { locked_.store(false, std::memory_order_release); }

    private:
        std::atomic<bool> locked_{false};
    };
    struct alignas(64) shard {
        mutable spin_lock lock;
        std::atomic<std::uint64_t> changes{0};  // written under the lock
        std::unordered_map<stored_key, entry, key_hash, key_equal> entries;
    };
    static constexpr std::size_t shard_count = 32;

    [[nodiscard]] static key_view view_of(std::string_view key) noexcept;
    [[nodiscard]] shard& shard_for(const key_view& key) const noexcept { return shards_[key.hash >> 59]; }
    [[nodiscard]] bool is_own_change(std::string_view key) const noexcept;
    static void forget_in(shard& s, const key_view& key);

    const std::string function_;
    const std::size_t max_per_shard_;
    mutable std::array<shard, shard_count> shards_;
};

}  // namespace cachier::detail
