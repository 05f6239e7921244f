// The Redis backend: one hash per entry, claims and stores made atomic by Lua scripts, waiters woken
// by pub/sub, ages judged by the server's clock.

#include <atomic>
#include <charconv>
#include <mutex>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "change_listener.hpp"
#include "redis_client.hpp"
#include "redis_scripts.hpp"
#include "redis_url.hpp"

namespace cachier {
namespace {

using namespace detail::redis;
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

class redis_store final : public backend {
public:
    explicit redis_store(redis_options options)
        : options_(std::move(options)),
          pool_(make_pool(options_)),
          channel_(options_.prefix + ":changes"),
          listener_("redis change notifications",
                    [this] {
                        auto c = std::make_unique<connection>(options_);
                        c->command({"SUBSCRIBE", channel_});
                        return c;
                    },
                    [this](connection& c) { receive_changes(c); }) {}

    std::string_view kind() const noexcept override { return "redis"; }
    bool claims_expire() const noexcept override { return true; }
    // Waiters are woken by pub/sub; this only bounds a wait whose message was lost (a reconnect).
    std::chrono::milliseconds max_poll_interval() const noexcept override { return std::chrono::milliseconds(250); }

    std::optional<stored_entry> load(const key_ref& ref) override {
        const std::string key = entry_key(ref);
        reply r = pool_->acquire()->command({"HMGET", key, "v", "t"});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw backend_error("redis: unexpected reply to HMGET");
        const redisReply* value = r->element[0];
        const redisReply* stored = r->element[1];
        if (value->type != REDIS_REPLY_STRING || stored->type != REDIS_REPLY_STRING) return std::nullopt;
        const std::int64_t stored_us = to_int64(stored);
        return stored_entry{std::string(value->str, value->len),
                            std::chrono::microseconds(server_now_us() - stored_us)};
    }

    void store(const key_ref& ref, std::string_view value, const claim_token* held) override {
        const std::string key = entry_key(ref);
        const std::string ttl = options_.entry_ttl
                                    ? std::to_string(std::max<std::int64_t>(
                                          1, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 options_.entry_ttl->get())
                                                 .count()))
                                    : "0";
        try {
            pool_->acquire()->command({"EVAL", scripts::store, "1", key, value, held ? std::string_view(*held) : "",
                                      ttl, channel_, ref.key});
        } catch (const backend_error& e) {
            throw backend_error("redis did not store a value of " + std::to_string(value.size()) +
                                " bytes: " + e.what());
        }
    }

    bool try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        const std::string key = entry_key(ref);
        const std::string lease_ms = std::to_string(lease.count());
        return to_int64(pool_->acquire()->command({"EVAL", scripts::claim, "1", key, token, lease_ms}).get()) == 1;
    }

    void renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        const std::string key = entry_key(ref);
        const std::string lease_ms = std::to_string(lease.count());
        pool_->acquire()->command({"EVAL", scripts::renew, "1", key, token, lease_ms});
    }

    void release_claim(const key_ref& ref, const claim_token& token) override {
        const std::string key = entry_key(ref);
        pool_->acquire()->command({"EVAL", scripts::release, "1", key, token, channel_, ref.key});
    }

    void clear(std::string_view function) override {
        for_each_batch(function, [this](const std::vector<std::string>& keys) {
            std::vector<std::string_view> args{"UNLINK"};
            args.insert(args.end(), keys.begin(), keys.end());
            pool_->acquire()->command(args);
        });
    }

    void clear_claims(std::string_view function) override {
        for_each_batch(function, [this](const std::vector<std::string>& keys) {
            run_script_on(scripts::clear_claims, keys, channel_);
        });
    }

    std::size_t remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const std::string max_age_us =
            std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(max_age).count());
        std::size_t removed = 0;
        for_each_batch(function, [&](const std::vector<std::string>& keys) {
            removed += static_cast<std::size_t>(to_int64(run_script_on(scripts::remove_older, keys, max_age_us).get()));
        });
        return removed;
    }

    std::optional<std::uint64_t> entry_count(std::string_view function) override {
        std::uint64_t count = 0;
        for_each_batch(function, [&](const std::vector<std::string>& keys) {
            std::vector<std::vector<std::string_view>> commands;
            for (const auto& k : keys) commands.push_back({"HEXISTS", k, "v"});
            for (const auto& r : pool_->acquire()->pipeline(commands)) count += to_int64(r.get()) == 1 ? 1 : 0;
        });
        return count;
    }

private:
    std::string entry_key(const key_ref& ref) const {
        std::string key;
        key.reserve(options_.prefix.size() + ref.function.size() + ref.key.size() + 2);
        key.append(options_.prefix).append(":").append(ref.function).append(":").append(ref.key);
        return key;
    }

    reply run_script_on(const char* script, const std::vector<std::string>& keys, std::string_view argument) {
        const std::string key_count = std::to_string(keys.size());
        std::vector<std::string_view> args{"EVAL", script, key_count};
        args.insert(args.end(), keys.begin(), keys.end());
        args.push_back(argument);
        return pool_->acquire()->command(args);
    }

    /// Calls `visit` with batches of one function's entry keys, found by SCAN (never KEYS). The
    /// pattern ends in 64 hex digits, so function "f" never matches "f:x"'s keys.
    template <class Visit>
    void for_each_batch(std::string_view function, Visit&& visit) {
        std::string pattern = glob_escape(options_.prefix) + ":" + glob_escape(function) + ":";
        for (int i = 0; i < 64; ++i) pattern += "[0-9a-f]";
        std::string cursor = "0";
        do {
            reply r = pool_->acquire()->command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw backend_error("redis: unexpected reply to SCAN");
            cursor.assign(r->element[0]->str, r->element[0]->len);
            std::vector<std::string> keys;
            for (std::size_t i = 0; i < r->element[1]->elements; ++i)
                keys.emplace_back(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
            if (!keys.empty()) visit(keys);
        } while (cursor != "0");
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

    /// Wakes this process's waiters when any process stores or releases.
    void receive_changes(connection& c) {
        reply message = c.next_push(std::chrono::milliseconds(500));
        if (message && message->type == REDIS_REPLY_ARRAY && message->elements == 3 &&
            message->element[2]->type == REDIS_REPLY_STRING)
            notify_change(key_ref{{}, std::string_view(message->element[2]->str, message->element[2]->len)});
    }

    static constexpr std::chrono::nanoseconds clock_refresh = std::chrono::seconds(5);

    const redis_options options_;
    std::unique_ptr<pool> pool_;
    const std::string channel_;
    std::mutex clock_mutex_;
    std::atomic<std::int64_t> offset_us_{0};
    std::atomic<steady::rep> synced_at_{0};
    detail::change_listener<connection> listener_;  // last: its thread uses the members above
};

}  // namespace

std::shared_ptr<backend> redis_backend(const redis_options& options) {
    if (options.prefix.empty()) throw config_error("redis prefix cannot be empty");
    if (options.pool_size == 0) throw config_error("redis pool_size must be at least 1");
    return std::make_shared<redis_store>(options);
}

std::shared_ptr<backend> redis_backend(std::string_view url) { return redis_backend(options_from_url(url)); }

}  // namespace cachier
