// The Redis backend: one hash per entry, claims and stores made atomic by Lua scripts, waiters woken
// by pub/sub, ages judged by the server's clock.

#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <optional>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "../../digest.hpp"
#include "../../fork.hpp"
#include "../common/change_listener.hpp"
#include "../common/change_payload.hpp"
#include "redis_client.hpp"
#include "redis_scripts.hpp"
#include "redis_url.hpp"

namespace cachier {
namespace {

using namespace detail::redis;
namespace change_payload = detail::change_payload;
using steady = std::chrono::steady_clock;

/// Escapes glob characters so that a name matches only itself in SCAN MATCH.
std::string glob_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

std::int64_t to_int64(const redisReply* r) {
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    std::int64_t value = 0;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        const auto [end, ec] = std::from_chars(r->str, r->str + r->len, value);
        if (ec == std::errc() && end == r->str + r->len) return value;
    }
    throw backend_error("redis: unexpected reply where a number was expected");
}

backend_capabilities redis_capabilities() {
    backend_capabilities caps;
    caps.claim_on_read = true;
    caps.store_releases_claim = true;
    caps.pushes_changes = true;
    caps.native_expiry = true;
    caps.records_last_use = true;  // in a key beside each record
    // Waiters are woken by pub/sub; this only bounds a wait whose message was lost (a reconnect).
    caps.max_poll_interval = std::chrono::milliseconds(250);
    return caps;
}

/// Record layout: "e" + 16 decimal digits of the server microsecond it was stored + the value (the
/// engine's envelope and the encoded value). Earlier releases wrote "v" records, whose values have
/// no envelope: they are read as such (the engine refuses them and recomputes once), and the
/// earlier release, which does not know "e", never reads this one's.
constexpr std::size_t record_head = 17;

bool is_record_tag(char c) { return c == 'e' || c == 'v'; }

/// The stored-at stamp of a record's head, or empty when the bytes are not a record.
std::optional<std::int64_t> record_stamp(std::string_view bytes) {
    if (bytes.size() < record_head || !is_record_tag(bytes.front())) return std::nullopt;
    std::int64_t stamp = 0;
    const auto [end, ec] = std::from_chars(bytes.data() + 1, bytes.data() + record_head, stamp);
    if (ec != std::errc() || end != bytes.data() + record_head) return std::nullopt;
    return stamp;
}

bool is_marker(std::string_view bytes) { return !bytes.empty() && bytes.front() == 'c'; }

std::string_view text_of(const redisReply* r) {
    return r->type == REDIS_REPLY_STRING ? std::string_view(r->str, r->len) : std::string_view();
}

/// A script and the SHA-1 the server knows it by.
struct script {
    const char* text;
    std::string sha;
    explicit script(const char* t) : text(t), sha(detail::sha1_hex(t)) {}
};

class redis_store final : public backend {
public:
    explicit redis_store(redis_options options)
        : backend("redis", redis_capabilities()),
          options_(std::move(options)),
          pool_(make_pool(options_)),
          channel_prefix_(options_.prefix + ":changes:"),
          listener_(
              "redis change notifications", [this] { return std::make_unique<connection>(options_); },
              [](connection& c, const std::string& channel, bool on) {
                  c.send({on ? "SUBSCRIBE" : "UNSUBSCRIBE", channel});
              },
              [this](connection& c, int wake_fd) { receive_changes(c, wake_fd); }) {}

protected:
    read_result do_read(const key_ref& ref, std::chrono::nanoseconds) override {
        const std::string e = entry_key(ref);
        const std::string c = e + ":c";
        reply r = pool_->acquire()->command({"MGET", e, c});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw backend_error("redis: unexpected reply to MGET");
        read_result out = from_entry(text_of(r->element[0]), {});
        if (r->element[1]->type == REDIS_REPLY_STRING) out.claim = claim_state::live;
        return out;
    }

    // One SET NX GET: a hit reads the record and writes nothing; a miss leaves our claim marker in
    // its place in the same command. Only a stale record needs a second request, for its claim key.
    read_result do_read_or_claim(const key_ref& ref, const claim_request& request) override {
        const std::string e = entry_key(ref);
        const std::string marker = "c" + request.token;
        const std::string lease_ms = std::to_string(request.lease.count());
        reply r = set_if_absent(e, marker, lease_ms);
        if (r->type == REDIS_REPLY_NIL) {
            read_result claimed;
            claimed.claimed = true;
            return claimed;
        }
        read_result out = from_entry(text_of(r.get()), request.token);
        if (out.claimed || out.claim == claim_state::live || out.fresh(request.max_age)) return out;
        // The claim is taken only if the record is still stale: another caller may have stored a
        // fresh value since it was read (then it is read again).
        const std::string max_age_us =
            std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(request.max_age).count());
        const std::int64_t claimed =
            to_int64(run_script(claim_script_, {e, e + ":c"}, {request.token, lease_ms, max_age_us}).get());
        if (claimed == 2) return do_read(ref, request.max_age);
        out.claimed = claimed == 1;
        out.claim = out.claimed ? claim_state::none : claim_state::live;
        return out;
    }

    void do_store(const key_ref& ref, const store_request& request) override {
        const std::string e = entry_key(ref);
        const std::string age_us = std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(request.age).count());
        std::string ttl = "0";
        if (const auto expiry = request.expires_after ? request.expires_after
                                : options_.entry_ttl ? std::optional<std::chrono::nanoseconds>(options_.entry_ttl->get())
                                                     : std::nullopt)
            ttl = std::to_string(std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(*expiry).count()));
        const std::string payload = change_payload::stored + std::string(ref.key);
        run_script(store_script_, {e, e + ":c"},
                   {request.value, age_us, ttl, request.release != nullptr ? std::string_view(*request.release) : "",
                    channel_of(ref.function), payload});
    }

    bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        const std::string e = entry_key(ref);
        return to_int64(run_script(claim_script_, {e, e + ":c"}, {token, std::to_string(lease.count())}).get()) == 1;
    }

    void do_renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        const std::string e = entry_key(ref);
        run_script(renew_script_, {e, e + ":c"}, {token, std::to_string(lease.count())});
    }

    void do_release_claim(const key_ref& ref, const claim_token& token) override {
        const std::string e = entry_key(ref);
        const std::string payload = change_payload::claim_released + std::string(ref.key);
        run_script(release_script_, {e, e + ":c"}, {token, channel_of(ref.function), payload});
    }

    bool do_remove(const key_ref& ref) override {
        const std::string payload = change_payload::removed + std::string(ref.key);
        return to_int64(run_script(remove_script_, {entry_key(ref)}, {channel_of(ref.function), payload}).get()) == 1;
    }

    void do_touch(std::string_view function, std::span<const std::string> keys) override {
        std::vector<std::string> entries;
        for (const auto& key : keys) {
            entries.push_back(entry_key({function, key}));
            if (entries.size() == 1000 || &key == &keys.back()) {
                run_script(touch_script_, keys_of(entries), {});
                entries.clear();
            }
        }
    }

    void do_clear(std::string_view function) override {
        for_each_batch(function, [&](const std::vector<std::string>& keys) {
            run_script(clear_script_, keys_of(keys), {});
            return true;
        });
        publish(function, std::string(1, change_payload::cleared));
    }

    void do_clear_claims(std::string_view function) override {
        for_each_batch(function, [&](const std::vector<std::string>& keys) {
            run_script(clear_claims_script_, keys_of(keys), {});
            return true;
        });
        publish(function, std::string(1, change_payload::claim_released));
    }

    std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const std::string max_age_us =
            std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(max_age).count());
        std::size_t removed = 0;
        for_each_batch(function, [&](const std::vector<std::string>& keys) {
            removed += static_cast<std::size_t>(to_int64(run_script(remove_older_script_, keys_of(keys), {max_age_us}).get()));
            return true;
        });
        if (removed > 0) publish(function, std::string(1, change_payload::removed));
        return removed;
    }

    std::uint64_t do_entry_count(std::string_view function) override {
        std::uint64_t count = 0;
        for_each_batch(function, [&](const std::vector<std::string>& keys) {
            std::vector<std::vector<std::string_view>> commands;
            for (const auto& k : keys) commands.push_back({"GETRANGE", k, "0", "0"});
            for (const auto& r : pool_->acquire()->pipeline(commands)) count += text_of(r.get()).size() == 1 && is_record_tag(text_of(r.get()).front()) ? 1 : 0;
            return true;
        });
        return count;
    }

    void do_list_functions(const visitor<function_info>& visit) override {
        // Keys are {prefix}:{function}:{64 hex}; the function is what lies between.
        std::string pattern = glob_escape(options_.prefix) + ":*:" + hex_pattern();
        std::map<std::string, function_info> functions;
        std::int64_t now = 0;
        scan(pattern, [&](const std::vector<std::string>& keys) {
            describe(keys, now, [&](const std::string& key, const entry_info& e) {
                if (!e.has_value) return;
                const std::size_t start = options_.prefix.size() + 1;
                function_info& f = functions[key.substr(start, key.size() - 65 - start)];
                f.add(e.size, e.age);
            });
            return true;
        });
        for (auto& [name, info] : functions) {
            info.name = name;
            if (!visit(info)) return;
        }
    }

    void do_list_entries(std::string_view function, const visitor<entry_info>& visit) override {
        bool going = true;
        std::int64_t now = 0;
        for_each_batch(function, [&](const std::vector<std::string>& keys) {
            describe(keys, now, [&](const std::string&, const entry_info& e) {
                if (going && (e.has_value || e.claim != claim_state::none)) going = visit(e);
            });
            return going;
        });
    }

    void do_watch(std::string_view function) override { listener_.watch(channel_of(function)); }
    void do_unwatch(std::string_view function) override { listener_.unwatch(channel_of(function)); }

private:
    std::string entry_key(const key_ref& ref) const {
        std::string key;
        key.reserve(options_.prefix.size() + ref.function.size() + ref.key.size() + 2);
        key.append(options_.prefix).append(":").append(ref.function).append(":").append(ref.key);
        return key;
    }

    std::string channel_of(std::string_view function) const { return channel_prefix_ + std::string(function); }

    void publish(std::string_view function, const std::string& payload) {
        const std::string channel = channel_of(function);
        pool_->acquire()->command({"PUBLISH", channel, payload});
    }

    /// The entry as a read sees it: a record (with its age by the server's clock), a claim marker
    /// (ours or another's), or nothing.
    read_result from_entry(std::string_view bytes, std::string_view own_token) {
        read_result out;
        if (bytes.empty()) return out;
        if (is_marker(bytes)) {
            if (!own_token.empty() && bytes.substr(1) == own_token) out.claimed = true;
            else out.claim = claim_state::live;
            return out;
        }
        const auto stamp = record_stamp(bytes);
        if (!stamp) throw backend_error("redis: an entry holds bytes this release did not write");
        out.entry = stored_entry{std::string(bytes.substr(record_head)),
                                 std::chrono::microseconds(std::max<std::int64_t>(0, server_now_us() - *stamp))};
        return out;
    }

    /// SET key marker NX PX lease GET (Redis 7), or the same as a script on older servers.
    reply set_if_absent(const std::string& key, const std::string& marker, const std::string& lease_ms) {
        if (!set_get_unsupported_.load(std::memory_order_relaxed)) {
            try {
                return pool_->acquire()->command({"SET", key, marker, "NX", "PX", lease_ms, "GET"});
            } catch (const backend_error& e) {
                if (std::string_view(e.what()).find("syntax error") == std::string_view::npos) throw;
                set_get_unsupported_.store(true, std::memory_order_relaxed);
            }
        }
        return run_script(read_or_claim_script_, {key}, {marker, lease_ms});
    }

    /// EVALSHA, loading the script with EVAL when the server does not know it yet.
    reply run_script(const script& s, const std::vector<std::string_view>& keys,
                     const std::vector<std::string_view>& args) {
        const std::string key_count = std::to_string(keys.size());
        std::vector<std::string_view> command{"EVALSHA", s.sha, key_count};
        command.insert(command.end(), keys.begin(), keys.end());
        command.insert(command.end(), args.begin(), args.end());
        auto c = pool_->acquire();
        try {
            return c->command(command);
        } catch (const backend_error& e) {
            if (std::string_view(e.what()).find("NOSCRIPT") == std::string_view::npos) throw;
        }
        command[0] = "EVAL";
        command[1] = s.text;
        return c->command(command);
    }

    static std::vector<std::string_view> keys_of(const std::vector<std::string>& keys) {
        return {keys.begin(), keys.end()};
    }

    static std::string hex_pattern() {
        std::string out;
        for (int i = 0; i < 64; ++i) out += "[0-9a-f]";
        return out;
    }

    /// Calls `visit` with batches of keys matching `pattern`, found by SCAN (never KEYS), until it
    /// returns false.
    template <class Visit>
    void scan(const std::string& pattern, Visit&& visit) {
        std::string cursor = "0";
        do {
            reply r = pool_->acquire()->command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw backend_error("redis: unexpected reply to SCAN");
            cursor.assign(r->element[0]->str, r->element[0]->len);
            std::vector<std::string> keys;
            for (std::size_t i = 0; i < r->element[1]->elements; ++i)
                keys.emplace_back(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
            if (!keys.empty() && !visit(keys)) return;
        } while (cursor != "0");
    }

    /// Batches of one function's entry keys. The pattern ends in 64 hex digits, so function "f"
    /// never matches "f:x"'s keys, nor the claim keys beside entries.
    template <class Visit>
    void for_each_batch(std::string_view function, Visit&& visit) {
        scan(glob_escape(options_.prefix) + ":" + glob_escape(function) + ":" + hex_pattern(), visit);
    }

    /// Reads the head, size and claim of a batch of entry keys in one round trip. `now` is the
    /// listing's time, taken at its first batch (when 0) and kept for the rest: SCAN spreads a
    /// function's keys over many batches where the server holds many keys, and ages measured
    /// from one time keep the entries' order (eviction sorts by them).
    template <class Each>
    void describe(const std::vector<std::string>& keys, std::int64_t& now, Each&& each) {
        std::vector<std::string> claim_keys;
        std::vector<std::string> use_keys;
        claim_keys.reserve(keys.size());
        use_keys.reserve(keys.size());
        std::vector<std::vector<std::string_view>> commands;
        for (const auto& k : keys) {
            claim_keys.push_back(k + ":c");
            use_keys.push_back(k + ":u");
            commands.push_back({"GETRANGE", k, "0", "16"});
            commands.push_back({"STRLEN", k});
            commands.push_back({"EXISTS", claim_keys.back()});
            commands.push_back({"GET", use_keys.back()});
        }
        const auto replies = pool_->acquire()->pipeline(commands);
        if (now == 0) now = server_now_us();
        for (std::size_t i = 0; i < keys.size(); ++i) {
            const std::string_view head = text_of(replies[4 * i].get());
            entry_info e;
            e.key = keys[i].substr(keys[i].size() - 64);
            if (const auto stamp = record_stamp(head)) {
                e.has_value = true;
                e.size = static_cast<std::uint64_t>(to_int64(replies[4 * i + 1].get())) - record_head;
                e.age = std::chrono::microseconds(std::max<std::int64_t>(0, now - *stamp));
                std::int64_t used = 0;
                const std::string_view used_text = text_of(replies[4 * i + 3].get());
                std::from_chars(used_text.data(), used_text.data() + used_text.size(), used);
                e.since_last_use = std::chrono::microseconds(std::max<std::int64_t>(0, now - std::max(used, *stamp)));
            }
            if (is_marker(head) || to_int64(replies[4 * i + 2].get()) == 1) e.claim = claim_state::live;
            each(keys[i], e);
        }
    }

    /// The server's time in microseconds, from an offset to the local monotonic clock measured with
    /// TIME and refreshed every few seconds (so a hit costs one round trip, not two).
    std::int64_t server_now_us() {
        const auto now = steady::now();
        const auto local_us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
        if (now.time_since_epoch().count() - synced_at_.load(std::memory_order_acquire) > clock_refresh.count() ||
            synced_at_.load(std::memory_order_acquire) == 0) {
            const std::unique_lock lock(clock_mutex_, std::try_to_lock);
            if (lock.owns_lock() || synced_at_.load(std::memory_order_acquire) == 0) sync_clock();
        }
        return local_us + offset_us_.load(std::memory_order_acquire);
    }

    void sync_clock() {
        auto connection = pool_->acquire();
        const auto before = steady::now();
        reply r = connection->command({"TIME"});
        const auto after = steady::now();
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw backend_error("redis: unexpected reply to TIME");
        const std::int64_t server_us = to_int64(r->element[0]) * 1000000 + to_int64(r->element[1]);
        const auto middle = before + (after - before) / 2;
        const auto local_us =
            std::chrono::duration_cast<std::chrono::microseconds>(middle.time_since_epoch()).count();
        offset_us_.store(server_us - local_us, std::memory_order_release);
        synced_at_.store(after.time_since_epoch().count(), std::memory_order_release);
    }

    /// Tells the sinks of the changes other processes publish on the watched functions' channels.
    void receive_changes(connection& c, int wake_fd) {
        reply message = c.next_push(std::chrono::milliseconds(500), wake_fd);
        if (!message || message->type != REDIS_REPLY_ARRAY || message->elements != 3) return;
        if (text_of(message->element[0]) != "message") return;  // a (un)subscribe confirmation
        const std::string_view channel = text_of(message->element[1]);
        const auto change = change_payload::parse(text_of(message->element[2]));
        if (!change || channel.substr(0, channel_prefix_.size()) != channel_prefix_) return;
        report_change({channel.substr(channel_prefix_.size()), change->key, change->kind});
    }

    static constexpr std::chrono::nanoseconds clock_refresh = std::chrono::seconds(5);

    const redis_options options_;
    std::unique_ptr<pool> pool_;
    const std::string channel_prefix_;
    const script read_or_claim_script_{scripts::read_or_claim};
    const script claim_script_{scripts::claim};
    const script renew_script_{scripts::renew};
    const script store_script_{scripts::store};
    const script release_script_{scripts::release};
    const script remove_script_{scripts::remove};
    const script clear_script_{scripts::clear};
    const script clear_claims_script_{scripts::clear_claims};
    const script remove_older_script_{scripts::remove_older};
    const script touch_script_{scripts::touch};
    std::atomic<bool> set_get_unsupported_{false};
    std::mutex clock_mutex_;
    std::atomic<std::int64_t> offset_us_{0};
    std::atomic<steady::rep> synced_at_{0};
    detail::change_listener<connection> listener_;  // its thread uses the members above
    detail::on_fork_child fork_{[this] { detail::renew_lock(clock_mutex_); }};
};

}  // namespace

std::shared_ptr<backend> redis_backend(const redis_options& options) {
    if (options.prefix.empty()) throw config_error("redis prefix cannot be empty");
    if (options.pool.size == 0) throw config_error("redis pool size must be at least 1");
    return std::make_shared<redis_store>(options);
}


}  // namespace cachier
