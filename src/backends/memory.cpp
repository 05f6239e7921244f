// The in-process backend. Entries live in hash maps split into shards by key; each shard's readers
// lock one of several reader slots (picked per thread) and writers lock them all, so concurrent hits
// from different cores write no shared cache line and scale with the cores.

#include <array>
#include <ctime>

#include <sched.h>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include <cachier/backends.hpp>

namespace cachier {
namespace {

// Ages come from the coarse monotonic clock: a few nanoseconds to read, millisecond resolution.
std::chrono::nanoseconds monotonic_now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

/// (function, key) with its hash, for lookups that neither allocate nor hash twice.
struct entry_id_view {
    std::string_view function;
    std::string_view key;
    std::size_t hash;
};

struct entry_id {
    std::string function;
    std::string key;
    std::size_t hash;
};

struct id_hash {
    using is_transparent = void;
    std::size_t operator()(const entry_id& id) const noexcept { return id.hash; }
    std::size_t operator()(const entry_id_view& id) const noexcept { return id.hash; }
};

struct id_equal {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
        return a.hash == b.hash && a.key == b.key && a.function == b.function;
    }
};

struct record {
    std::string value;
    std::chrono::nanoseconds stored_at{};
    bool has_value = false;
    claim_token claim;  // empty when nobody computes
};

entry_id_view view_of(const key_ref& ref) noexcept {
    const std::size_t h = std::hash<std::string_view>{}(ref.key) ^ (std::hash<std::string_view>{}(ref.function) * 31);
    return {ref.function, ref.key, h};
}

/// A reader-writer lock whose readers spread over several cache lines.
class spread_lock {
public:
    class read_guard {
    public:
        explicit read_guard(spread_lock& lock) : slot_(lock.slots_[slot_index()].mutex) { slot_.lock(); }
        ~read_guard() { slot_.unlock(); }
        read_guard(const read_guard&) = delete;
        read_guard& operator=(const read_guard&) = delete;

    private:
        std::mutex& slot_;
    };

    class write_guard {
    public:
        explicit write_guard(spread_lock& lock) : lock_(lock) {
            for (auto& s : lock_.slots_) s.mutex.lock();
        }
        ~write_guard() {
            for (auto it = lock_.slots_.rbegin(); it != lock_.slots_.rend(); ++it) it->mutex.unlock();
        }
        write_guard(const write_guard&) = delete;
        write_guard& operator=(const write_guard&) = delete;

    private:
        spread_lock& lock_;
    };

private:
    static constexpr std::size_t slot_count = 8;
    // The slot of the CPU running the caller: threads on different cores use different slots. A
    // thread that moves to another CPU while holding a slot still unlocks the slot it locked.
    static std::size_t slot_index() noexcept {
        const int cpu = ::sched_getcpu();
        return cpu < 0 ? 0 : static_cast<std::size_t>(cpu) % slot_count;
    }
    struct alignas(64) slot {
        std::mutex mutex;
    };
    std::array<slot, slot_count> slots_;
};

using entry_map = std::unordered_map<entry_id, record, id_hash, id_equal>;

class memory_store final : public backend {
public:
    std::string_view kind() const noexcept override { return "memory"; }

    // Keys never leave the process, so they are the encoded arguments, not a digest.
    bool digest_keys() const noexcept override { return false; }

    std::optional<stored_entry> load(const key_ref& ref) override {
        const entry_id_view id = view_of(ref);
        shard& s = shard_for(id);
        const spread_lock::read_guard lock(s.lock);
        auto it = s.entries.find(id);
        if (it == s.entries.end() || !it->second.has_value) return std::nullopt;
        return stored_entry{it->second.value, monotonic_now() - it->second.stored_at};
    }

    void store(const key_ref& ref, std::string_view value, const claim_token* held) override {
        const entry_id_view id = view_of(ref);
        shard& s = shard_for(id);
        const spread_lock::write_guard lock(s.lock);
        record& r = find_or_add(s, id);
        r.value.assign(value);
        r.stored_at = monotonic_now();
        r.has_value = true;
        if (held != nullptr && r.claim == *held) r.claim.clear();
    }

    // Claims never expire here: their owner lives in this process and always releases them.
    bool try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds) override {
        const entry_id_view id = view_of(ref);
        shard& s = shard_for(id);
        const spread_lock::write_guard lock(s.lock);
        record& r = find_or_add(s, id);
        if (!r.claim.empty() && r.claim != token) return false;
        r.claim = token;
        return true;
    }

    void release_claim(const key_ref& ref, const claim_token& token) override {
        const entry_id_view id = view_of(ref);
        shard& s = shard_for(id);
        const spread_lock::write_guard lock(s.lock);
        auto it = s.entries.find(id);
        if (it == s.entries.end() || it->second.claim != token) return;
        it->second.claim.clear();
        if (!it->second.has_value) s.entries.erase(it);
    }

    void clear(std::string_view function) override {
        for_each_record(function, [](record& r) { r.has_value = false; });
    }

    void clear_claims(std::string_view function) override {
        for_each_record(function, [](record& r) { r.claim.clear(); });
    }

    std::size_t remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const auto now = monotonic_now();
        std::size_t removed = 0;
        for_each_record(function, [&](record& r) {
            if (r.has_value && now - r.stored_at > max_age) {
                r.has_value = false;
                ++removed;
            }
        });
        return removed;
    }

    std::optional<std::uint64_t> entry_count(std::string_view function) override {
        std::uint64_t count = 0;
        for_each_record(function, [&](record& r) { count += r.has_value ? 1 : 0; });
        return count;
    }

private:
    struct shard {
        spread_lock lock;
        entry_map entries;
    };

    shard& shard_for(const entry_id_view& id) noexcept { return shards_[(id.hash >> 7) % shard_count]; }

    static record& find_or_add(shard& s, const entry_id_view& id) {
        auto it = s.entries.find(id);
        if (it != s.entries.end()) return it->second;
        return s.entries.emplace(entry_id{std::string(id.function), std::string(id.key), id.hash}, record{})
            .first->second;
    }

    // Visits the records of one function (a scan: clearing is rare) and drops those left with
    // neither value nor claim.
    template <class Visit>
    void for_each_record(std::string_view function, Visit&& visit) {
        for (auto& s : shards_) {
            const spread_lock::write_guard lock(s.lock);
            for (auto it = s.entries.begin(); it != s.entries.end();) {
                if (it->first.function != function) {
                    ++it;
                    continue;
                }
                visit(it->second);
                if (!it->second.has_value && it->second.claim.empty()) it = s.entries.erase(it);
                else ++it;
            }
        }
    }

    static constexpr std::size_t shard_count = 64;
    std::array<shard, shard_count> shards_;
};

}  // namespace

std::shared_ptr<backend> memory_backend() { return std::make_shared<memory_store>(); }

}  // namespace cachier
