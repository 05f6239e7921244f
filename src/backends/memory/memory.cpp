// The in-process backend. Entries live in hash maps split into shards by key; each shard's readers
// lock one of several reader slots (picked per thread) and writers lock them all, so concurrent hits
// from different cores write no shared cache line and scale with the cores.

#include <algorithm>
#include <array>
#include <atomic>
#include <ctime>

#include <sched.h>
#include <functional>
#include <map>
#include <type_traits>
#include <vector>
#include <mutex>
#include <string>
#include <unordered_map>

#include <cachier/backends.hpp>

#include "../../backend_registry.hpp"
#include "../../fork.hpp"
#include "../../spread_lock.hpp"

namespace cachier {
namespace {

using detail::spread_lock;

// Hits take ages from the coarse monotonic clock: a few nanoseconds to read, millisecond resolution.
std::chrono::nanoseconds monotonic_now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Stores and listings take the precise clock, so that values stored within one tick of the coarse
// clock still rank by age for eviction.
std::chrono::nanoseconds precise_now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
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
    std::chrono::nanoseconds stored_at{};       // by the coarse clock, for the ages reads return
    std::chrono::nanoseconds stored_precise{};  // by the precise clock, for the ages listings return
    // When a read last returned the value (monotonic ns). Readers share the shard, so they write it
    // atomically, and only when it moved by a clock tick or more: a hot entry's cache line is
    // written once per tick, not once per hit.
    alignas(std::atomic_ref<std::int64_t>::required_alignment) mutable std::int64_t used_at_ns = 0;
    std::chrono::nanoseconds expires_at{};  // zero: never
    bool has_value = false;
    claim_token claim;  // empty when nobody computes

    [[nodiscard]] bool live_value(std::chrono::nanoseconds now) const noexcept {
        return has_value && (expires_at.count() == 0 || now < expires_at);
    }

    void note_use(std::chrono::nanoseconds now) const noexcept {
        const std::atomic_ref<std::int64_t> used(used_at_ns);
        if (used.load(std::memory_order_relaxed) != now.count()) used.store(now.count(), std::memory_order_relaxed);
    }

    /// The age a read returns, by the coarse clock.
    [[nodiscard]] std::chrono::nanoseconds age(std::chrono::nanoseconds coarse_now) const noexcept {
        return coarse_now - stored_at;
    }

    /// The age a listing returns, by the precise clock.
    [[nodiscard]] std::chrono::nanoseconds precise_age(std::chrono::nanoseconds precise_now) const noexcept {
        return precise_now - stored_precise;
    }

    /// Since the last read or the store, by the precise clock (reads note coarse times, which lag it
    /// by up to a tick).
    [[nodiscard]] std::chrono::nanoseconds since_last_use(std::chrono::nanoseconds precise_now) const noexcept {
        const std::chrono::nanoseconds used(std::atomic_ref<std::int64_t>(used_at_ns).load(std::memory_order_relaxed));
        return std::max(precise_now - std::max(stored_precise, used), std::chrono::nanoseconds::zero());
    }
};

entry_id_view view_of(const key_ref& ref) noexcept {
    const std::size_t h = std::hash<std::string_view>{}(ref.key) ^ (std::hash<std::string_view>{}(ref.function) * 31);
    return {ref.function, ref.key, h};
}

using entry_map = std::unordered_map<entry_id, record, id_hash, id_equal>;

backend_capabilities memory_capabilities() {
    backend_capabilities caps;
    caps.digest_keys = false;  // keys never leave the process: the encoded arguments, not a digest
    caps.shared_between_processes = false;
    caps.stores_outside_process = false;  // values stay in this process: no envelope to check
    caps.claims = claim_mechanism::lock;  // owners live in this process and always release
    caps.store_releases_claim = true;
    caps.pushes_changes = true;  // every change is made in this process
    caps.keeps_values_in_process = true;
    caps.cheap_entry_count = true;
    caps.cheap_listing = true;
    caps.records_last_use = true;
    caps.reads_record_use = true;  // every read notes its use in the entry
    caps.max_poll_interval = std::chrono::milliseconds(1000);
    return caps;
}

class memory_store final : public backend {
public:
    memory_store() : backend("memory", memory_capabilities()) {}

protected:
    read_result do_read(const key_ref& ref, std::chrono::nanoseconds) override {
        const entry_id_view id = view_of(ref);
        shard& s = shard_for(id);
        const spread_lock::read_guard lock(s.lock);
        auto it = s.entries.find(id);
        read_result out;
        if (it == s.entries.end()) return out;
        const auto now = monotonic_now();
        const record& r = it->second;
        if (r.live_value(now)) {
            out.entry = stored_entry{r.value, r.age(now)};
            r.note_use(now);
        }
        out.claim = r.claim.empty() ? claim_state::none : claim_state::live;
        return out;
    }

    read_result do_read_or_claim(const key_ref& ref, const claim_request& request) override {
        return with_record(ref, [&](record& r) { return read_or_claim_locked(r, request); });
    }

    static read_result read_or_claim_locked(record& r, const claim_request& request) {
        const auto now = monotonic_now();
        read_result out;
        if (r.live_value(now)) {
            out.entry = stored_entry{r.value, r.age(now)};
            r.note_use(now);
        }
        if (out.fresh(request.max_age)) return out;
        if (!r.claim.empty() && r.claim != request.token) {
            out.claim = claim_state::live;
            return out;
        }
        r.claim = request.token;
        out.claimed = true;
        return out;
    }

    void do_store(const key_ref& ref, const store_request& request) override {
        with_record(ref, [&](record& r) {
            const auto now = monotonic_now();
            r.value.assign(request.value);
            r.stored_at = now - request.age;
            r.stored_precise = precise_now() - request.age;
            r.expires_at = request.expires_after ? now + *request.expires_after : std::chrono::nanoseconds::zero();
            r.has_value = true;
            if (request.release != nullptr && r.claim == *request.release) r.claim.clear();
        });
    }

    bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds) override {
        return with_record(ref, [&](record& r) {
            if (!r.claim.empty() && r.claim != token) return false;
            r.claim = token;
            return true;
        });
    }

    void do_release_claim(const key_ref& ref, const claim_token& token) override {
        update(ref, [&](record& r) {
            if (r.claim == token) r.claim.clear();
            return false;
        });
    }

    bool do_remove(const key_ref& ref) override {
        return update(ref, [](record& r) { return std::exchange(r.has_value, false); });
    }

    void do_clear(std::string_view function) override {
        for_each_record(function, [](const std::string&, record& r) { r.has_value = false; });
    }

    void do_clear_claims(std::string_view function) override {
        for_each_record(function, [](const std::string&, record& r) { r.claim.clear(); });
    }

    std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const auto now = precise_now();
        std::size_t removed = 0;
        for_each_record(function, [&](const std::string&, record& r) {
            if (r.has_value && (r.precise_age(now) > max_age || !r.live_value(now))) {
                r.has_value = false;
                ++removed;
            }
        });
        return removed;
    }

    std::uint64_t do_entry_count(std::string_view function) override {
        const auto now = monotonic_now();
        std::uint64_t count = 0;
        for_each_record(function, [&](const std::string&, record& r) { count += r.live_value(now) ? 1 : 0; });
        return count;
    }

    void do_list_functions(const visitor<function_info>& visit) override {
        const auto now = precise_now();
        std::map<std::string, function_info, std::less<>> functions;
        for (auto& s : shards_) {
            const spread_lock::read_guard lock(s.lock);
            for (const auto& [id, r] : s.entries) {
                if (!r.live_value(now)) continue;
                function_info& f = functions[id.function];
                const auto age = r.precise_age(now);
                f.add(r.value.size(), age);
            }
        }
        for (auto& [name, info] : functions) {
            info.name = name;
            if (!visit(info)) return;
        }
    }

    // Counted in place, without copying keys.
    function_info do_summary(std::string_view function) override {
        const auto now = precise_now();
        function_info info;
        info.name = function;
        for (auto& s : shards_) {
            const spread_lock::read_guard lock(s.lock);
            for (const auto& [id, r] : s.entries) {
                if (id.function != function || !r.live_value(now)) continue;
                const auto age = r.precise_age(now);
                info.add(r.value.size(), age);
            }
        }
        return info;
    }

    // One shard at a time is copied out and visited outside its lock, so that the visitor may call
    // the backend and at most one shard's entries are held.
    void do_list_entries(std::string_view function, const visitor<entry_info>& visit) override {
        const auto now = precise_now();  // one time for the whole listing: its ages rank the values
        for (auto& s : shards_) {
            std::vector<entry_info> found;
            {
                const spread_lock::read_guard lock(s.lock);
                for (const auto& [id, r] : s.entries) {
                    if (id.function != function) continue;
                    entry_info e;
                    e.key = id.key;
                    e.has_value = r.live_value(now);
                    e.size = e.has_value ? r.value.size() : 0;
                    e.age = e.has_value ? r.precise_age(now) : std::chrono::nanoseconds::zero();
                    if (e.has_value) e.since_last_use = r.since_last_use(now);
                    e.claim = r.claim.empty() ? claim_state::none : claim_state::live;
                    if (e.has_value || e.claim != claim_state::none) found.push_back(std::move(e));
                }
            }
            for (const auto& e : found)
                if (!visit(e)) return;
        }
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

    /// Runs `change` on the record of `ref` (made when missing) under its shard's write lock.
    template <class Change>
    auto with_record(const key_ref& ref, Change&& change) -> std::invoke_result_t<Change&, record&> {
        const entry_id_view id = view_of(ref);
        shard& s = shard_for(id);
        const spread_lock::write_guard lock(s.lock);
        return change(find_or_add(s, id));
    }

    /// Changes one existing record and drops it when it is left with neither value nor claim.
    template <class Change>
    bool update(const key_ref& ref, Change&& change) {
        const entry_id_view id = view_of(ref);
        shard& s = shard_for(id);
        const spread_lock::write_guard lock(s.lock);
        auto it = s.entries.find(id);
        if (it == s.entries.end()) return false;
        const bool result = change(it->second);
        if (!it->second.has_value && it->second.claim.empty()) s.entries.erase(it);
        return result;
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
                visit(it->first.key, it->second);
                if (!it->second.has_value && it->second.claim.empty()) it = s.entries.erase(it);
                else ++it;
            }
        }
    }

    static constexpr std::size_t shard_count = 64;
    std::array<shard, shard_count> shards_;
    detail::on_fork_child fork_{[this] {
        for (auto& s : shards_) s.lock.renew();
    }};
};

}  // namespace

std::shared_ptr<backend> memory_backend() { return std::make_shared<memory_store>(); }

detail::scheme_list detail::memory_schemes() {
    return {{"memory", [](const parsed_url& url) {
                 if (!url.host.empty() || url.port || !url.user.empty() || (!url.path.empty() && url.path != "/") ||
                     !url.query.empty())
                     throw url_error("path", "memory:// takes no host, path or options");
                 return memory_backend();
             }}};
}

}  // namespace cachier
