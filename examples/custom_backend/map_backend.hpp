#pragma once
// A complete backend of your own, written only against cachier's public headers: entries in a
// std::map guarded by a mutex, claims that end at a lease. It passes cachier's conformance suite
// (tests/conformance/custom.cpp runs it, in this tree and against an installed cachier).
//
// A driver implements the protected do_* operations with storage I/O only. The base class turns
// failures into cachier::backend_error, releases a claim after a store (store_releases_claim is
// false here), reports every change to the engine's waiters, and provides read_or_claim,
// remove_older_than and entry_count on top of the operations below.

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include <cachier/backend.hpp>

namespace example {

class map_backend final : public cachier::backend {
public:
    map_backend() : backend("map", capabilities_of_a_map()) {}

protected:
    cachier::read_result do_read(const cachier::key_ref& ref, std::chrono::nanoseconds) override {
        const std::lock_guard lock(mutex_);
        cachier::read_result out;
        const auto it = entries_.find(id_of(ref));
        if (it == entries_.end()) return out;
        const auto now = clock::now();
        if (it->second.has_value && !expired(it->second, now))
            out.entry = cachier::stored_entry{it->second.value, now - it->second.stored_at};
        out.claim = claim_of(it->second, now);
        return out;
    }

    bool do_try_claim(const cachier::key_ref& ref, const cachier::claim_token& token,
                      std::chrono::milliseconds lease) override {
        const std::lock_guard lock(mutex_);
        record& r = entries_[id_of(ref)];
        if (claim_of(r, clock::now()) == cachier::claim_state::live && r.owner != token) return false;
        r.owner = token;
        r.claim_expires = clock::now() + lease;
        return true;
    }

    void do_renew_claim(const cachier::key_ref& ref, const cachier::claim_token& token,
                        std::chrono::milliseconds lease) override {
        const std::lock_guard lock(mutex_);
        const auto it = entries_.find(id_of(ref));
        if (it != entries_.end() && it->second.owner == token) it->second.claim_expires = clock::now() + lease;
    }

    void do_release_claim(const cachier::key_ref& ref, const cachier::claim_token& token) override {
        const std::lock_guard lock(mutex_);
        const auto it = entries_.find(id_of(ref));
        if (it == entries_.end() || it->second.owner != token) return;
        it->second.owner.clear();
        if (!it->second.has_value) entries_.erase(it);
    }

    void do_store(const cachier::key_ref& ref, const cachier::store_request& request) override {
        const std::lock_guard lock(mutex_);
        record& r = entries_[id_of(ref)];
        const auto now = clock::now();
        r.value.assign(request.value);
        r.has_value = true;
        r.stored_at = now - std::chrono::duration_cast<clock::duration>(request.age);
        r.expires_at = request.expires_after
                           ? std::optional(now + std::chrono::duration_cast<clock::duration>(*request.expires_after))
                           : std::nullopt;
    }

    bool do_remove(const cachier::key_ref& ref) override {
        const std::lock_guard lock(mutex_);
        const auto it = entries_.find(id_of(ref));
        if (it == entries_.end() || !it->second.has_value) return false;
        drop_value(it);
        return true;
    }

    void do_clear(std::string_view function) override {
        const std::lock_guard lock(mutex_);
        for (auto it = first_of(function); it != entries_.end() && it->first.first == function;) drop_value(it++);
    }

    void do_clear_claims(std::string_view function) override {
        const std::lock_guard lock(mutex_);
        for (auto it = first_of(function); it != entries_.end() && it->first.first == function;) {
            auto current = it++;
            current->second.owner.clear();
            if (!current->second.has_value) entries_.erase(current);
        }
    }

    // Listings copy what they report under the lock and call the visitor outside it, so that a
    // visitor may use the backend. (A store of millions of entries would page through them.)
    void do_list_functions(const cachier::visitor<cachier::function_info>& visit) override {
        std::map<std::string, cachier::function_info> functions;
        {
            const std::lock_guard lock(mutex_);
            const auto now = clock::now();
            for (const auto& [id, r] : entries_) {
                if (!r.has_value || expired(r, now)) continue;
                auto& f = functions[id.first];
                const auto age = std::chrono::duration_cast<std::chrono::nanoseconds>(now - r.stored_at);
                f.name = id.first;
                ++f.entries;
                f.bytes += r.value.size();
                f.oldest = std::max(f.oldest.value_or(age), age);
                f.newest = std::min(f.newest.value_or(age), age);
            }
        }
        for (const auto& [name, info] : functions)
            if (!visit(info)) return;
    }

    void do_list_entries(std::string_view function, const cachier::visitor<cachier::entry_info>& visit) override {
        std::vector<cachier::entry_info> found;
        {
            const std::lock_guard lock(mutex_);
            const auto now = clock::now();
            for (auto it = first_of(function); it != entries_.end() && it->first.first == function; ++it) {
                cachier::entry_info e;
                e.key = it->first.second;
                e.has_value = it->second.has_value && !expired(it->second, now);
                e.size = e.has_value ? it->second.value.size() : 0;
                e.age = e.has_value ? now - it->second.stored_at : std::chrono::nanoseconds::zero();
                e.claim = claim_of(it->second, now);
                if (e.has_value || e.claim != cachier::claim_state::none) found.push_back(std::move(e));
            }
        }
        for (const auto& e : found)
            if (!visit(e)) return;
    }

private:
    using clock = std::chrono::steady_clock;
    using id = std::pair<std::string, std::string>;  // (function, key)

    struct record {
        std::string value;
        bool has_value = false;
        clock::time_point stored_at;
        std::optional<clock::time_point> expires_at;
        cachier::claim_token owner;  // empty: no claim
        clock::time_point claim_expires;
    };

    static cachier::backend_capabilities capabilities_of_a_map() {
        cachier::backend_capabilities caps;
        caps.shared_between_processes = false;  // the map lives in this process
        caps.claims = cachier::claim_mechanism::lease;
        caps.cheap_entry_count = true;
        caps.cheap_listing = true;
        caps.max_poll_interval = std::chrono::milliseconds(50);
        return caps;
    }

    static id id_of(const cachier::key_ref& ref) { return {std::string(ref.function), std::string(ref.key)}; }

    static bool expired(const record& r, clock::time_point now) { return r.expires_at && *r.expires_at <= now; }

    static cachier::claim_state claim_of(const record& r, clock::time_point now) {
        if (r.owner.empty()) return cachier::claim_state::none;
        return r.claim_expires > now ? cachier::claim_state::live : cachier::claim_state::expired;
    }

    std::map<id, record>::iterator first_of(std::string_view function) {
        return entries_.lower_bound(id{std::string(function), std::string()});
    }

    void drop_value(std::map<id, record>::iterator it) {
        it->second.has_value = false;
        it->second.value.clear();
        if (it->second.owner.empty()) entries_.erase(it);
    }

    std::mutex mutex_;
    std::map<id, record> entries_;
};

}  // namespace example
