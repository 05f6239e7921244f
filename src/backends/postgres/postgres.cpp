// The PostgreSQL backend: one table keyed by (function, key), a pool of libpq connections with
// prepared statements, claims decided by one INSERT ... ON CONFLICT ... WHERE lease expired, ages
// by the server's clock, waiters woken by LISTEN/NOTIFY.

#include <atomic>
#include <cstring>
#include <mutex>
#include <map>
#include <array>
#include <deque>
#include <initializer_list>
#include <vector>

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <cachier/errors.hpp>

#include "../../digest.hpp"
#include "../../fork.hpp"
#include "../../url.hpp"
#include "../common/change_listener.hpp"
#include "../common/change_payload.hpp"
#include "../common/connection_pool.hpp"
#include "../sql/sql_common.hpp"

namespace cachier::detail::sql {
namespace {

struct result_deleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result = std::unique_ptr<PGresult, result_deleter>;

/// What the PostgreSQL backend needs from sql_options.
struct postgres_settings {
    std::string conninfo;     // the URL for libpq
    std::string description;  // postgresql://host:port/db (***@ for a user), never with user or password
    parsed_url url;           // what error messages from libpq are scrubbed of
    std::string table;
    std::size_t pool_size;
    std::chrono::nanoseconds pool_wait;
    std::chrono::milliseconds command_timeout;
};

postgres_settings settings_from(const sql_options& o) {
    postgres_settings s;
    const parsed_url u = parse_url(o.url);  // checks the general shape and names the wrong part
    s.conninfo = with_encoded_userinfo(o.url, u);
    bool has_connect_timeout = false;
    for (const auto& item : u.query) has_connect_timeout = has_connect_timeout || item.first == "connect_timeout";
    if (!has_connect_timeout) {
        const auto seconds = std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(o.connect_timeout.get()).count());
        s.conninfo.append(u.query.empty() && s.conninfo.find('?') == std::string::npos ? "?" : "&")
            .append("connect_timeout=" + std::to_string(seconds));
    }
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(s.conninfo.c_str(), &error);
    if (parsed == nullptr) {
        std::string why = error != nullptr ? error : "cannot parse";
        PQfreemem(error);
        while (!why.empty() && why.back() == '\n') why.pop_back();
        throw url_error("query", why);
    }
    PQconninfoFree(parsed);
    s.description = "postgresql://";
    if (!u.user.empty() || u.password) s.description.append("***@");
    s.description.append(u.host.empty() ? "localhost" : u.host);
    if (u.port) s.description.append(":").append(std::to_string(*u.port));
    s.description.append(u.path);
    s.url = u;
    s.table = o.table;
    s.pool_size = o.pool.size;
    s.pool_wait = o.pool.wait_timeout.value_or(std::chrono::seconds(5)).get();
    s.command_timeout = std::max(std::chrono::milliseconds(1),
                                 std::chrono::ceil<std::chrono::milliseconds>(o.command_timeout.get()));
    return s;
}

std::string trimmed(const char* message) {
    std::string s = message != nullptr ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

/// A statement parameter, always sent in binary form, so that nothing is copied: text and bytea as
/// their bytes, int8 (and timestamptz: microseconds since 2000) as 8 bytes in network order.
class param {
public:
    param(std::string_view bytes) : bytes_(bytes) {}  // NOLINT(google-explicit-constructor)
    param(const std::string& bytes) : bytes_(bytes) {}  // NOLINT(google-explicit-constructor)

    static param int8(std::int64_t v) {
        param p{std::string_view()};
        p.number_ = true;
        for (int i = 7; i >= 0; --i, v = static_cast<std::int64_t>(static_cast<std::uint64_t>(v) >> 8))
            p.digits_[i] = static_cast<char>(v & 0xff);
        return p;
    }
    static param micros(std::chrono::nanoseconds d) {
        return int8(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    }
    static param null() {
        param p{std::string_view()};
        p.null_ = true;
        return p;
    }

    [[nodiscard]] const char* data() const noexcept { return null_ ? nullptr : number_ ? digits_ : bytes_.data(); }
    [[nodiscard]] int size() const noexcept { return number_ ? 8 : static_cast<int>(bytes_.size()); }

private:
    std::string_view bytes_;
    char digits_[8] = {};
    bool number_ = false;
    bool null_ = false;
};

/// One libpq connection with the statements it has prepared. Statements are sent without blocking
/// and their results awaited until the command timeout: a server that stops answering costs a
/// call that timeout, then the connection is dropped.
class pg_connection {
public:
    pg_connection(const postgres_settings& settings)
        : where_(settings.description), timeout_(settings.command_timeout) {
        conn_ = PQconnectdb(settings.conninfo.c_str());
        if (conn_ == nullptr) throw backend_error("cannot allocate a connection to " + where_);
        if (PQstatus(conn_) != CONNECTION_OK) {
            // libpq names the user ("password authentication failed for user ..."): never repeated.
            const std::string why = scrub_secrets(trimmed(PQerrorMessage(conn_)), settings.url);
            PQfinish(conn_);
            conn_ = nullptr;
            throw backend_error("cannot connect to " + where_ + ": " + why);
        }
        socket_ = PQsocket(conn_);
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);  // "already exists, skipping" etc.
        PQsetnonblocking(conn_, 1);
        // The server gives up on a statement at the same time (a slow statement, not a stopped server).
        try {
            execute("SET statement_timeout = " + std::to_string(timeout_.count()));
        } catch (...) {
            PQfinish(conn_);  // the destructor does not run for a half-built object
            conn_ = nullptr;
            throw;
        }
    }
    ~pg_connection() {
        if (conn_ != nullptr) PQfinish(conn_);
    }
    pg_connection(const pg_connection&) = delete;
    pg_connection& operator=(const pg_connection&) = delete;

    [[nodiscard]] bool usable() const noexcept {
        return conn_ != nullptr && !broken_ && PQstatus(conn_) == CONNECTION_OK;
    }

    /// Runs a statement (prepared on this connection at its first use, and found again by the address
    /// of its text, which lives as long as the backend); binary parameters and results.
    result run(const std::string& sql, std::initializer_list<param> params) {
        const std::string* name = nullptr;
        for (const auto& [text, prepared_name] : prepared_)
            if (text == &sql) name = &prepared_name;
        if (name == nullptr) {
            std::string fresh = "s" + std::to_string(prepared_.size());
            if (PQsendPrepare(conn_, fresh.c_str(), sql.c_str(), static_cast<int>(params.size()), nullptr) == 0)
                broke("prepare a statement");
            collect("prepare a statement");
            name = &prepared_.emplace_back(&sql, std::move(fresh)).second;
        }
        constexpr std::size_t most = 8;
        if (params.size() > most) throw backend_error("postgres: too many parameters");
        std::array<const char*, most> values{};
        std::array<int, most> lengths{};
        std::array<int, most> formats{};
        std::size_t i = 0;
        for (const auto& p : params) {
            values[i] = p.data();
            lengths[i] = p.size();
            formats[i] = 1;
            ++i;
        }
        if (PQsendQueryPrepared(conn_, name->c_str(), static_cast<int>(params.size()), values.data(), lengths.data(),
                                formats.data(), 1) == 0)
            broke("run statement " + *name);
        return collect("run statement " + *name);
    }

    /// Runs SQL text without parameters.
    result execute(const std::string& sql) {
        if (PQsendQuery(conn_, sql.c_str()) == 0) broke("run a statement");
        return collect("run a statement");
    }

    /// Waits up to `timeout` (or until `wake_fd` is readable) for notifications; calls
    /// `on_notification(channel, payload)` for each one.
    template <class OnNotification>
    void wait_for_notifications(std::chrono::milliseconds timeout, int wake_fd, OnNotification&& on_notification) {
        pollfd p[2] = {{socket_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
        if (::poll(p, 2, static_cast<int>(timeout.count())) > 0 && (p[0].revents != 0) && PQconsumeInput(conn_) == 0)
            throw backend_error("lost the notification connection to " + where_ + ": " + trimmed(PQerrorMessage(conn_)));
        while (PGnotify* n = PQnotifies(conn_)) {
            on_notification(std::string_view(n->relname), std::string_view(n->extra));
            PQfreemem(n);
        }
    }

    /// Makes a blocked wait_for_notifications return (from another thread).
    void interrupt() noexcept {
        if (socket_ >= 0) ::shutdown(socket_, SHUT_RDWR);
    }

private:
    using steady = std::chrono::steady_clock;

    /// Sends what is queued and waits for the statement's results, until the command timeout.
    result collect(const std::string& doing) {
        const auto deadline = steady::now() + timeout_;
        for (int flushed = PQflush(conn_); flushed != 0; flushed = PQflush(conn_)) {
            if (flushed < 0) broke(doing);
            await_socket(POLLOUT | POLLIN, deadline, doing);
            if (PQconsumeInput(conn_) == 0) broke(doing);
        }
        result first;
        for (;;) {
            while (PQisBusy(conn_) != 0) {
                await_socket(POLLIN, deadline, doing);
                if (PQconsumeInput(conn_) == 0) broke(doing);
            }
            result next(PQgetResult(conn_));
            if (!next) break;
            if (!first) first = std::move(next);  // the first result, or the first error, decides
        }
        return check(std::move(first), doing);
    }

    void await_socket(short events, steady::time_point deadline, const std::string& doing) {
        for (;;) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
            pollfd p{socket_, events, 0};
            const int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
            if (ready > 0) return;
            if (ready < 0 && errno == EINTR) continue;
            broken_ = true;
            if (ready == 0)
                throw backend_error("postgres at " + where_ + " did not answer within the command timeout (" +
                                    std::to_string(timeout_.count()) + " ms) to " + doing + "; connection dropped");
            char buffer[256];
            throw backend_error("postgres at " + where_ + ": cannot wait for an answer to " + doing + ": " +
                                ::strerror_r(errno, buffer, sizeof(buffer)));
        }
    }

    [[noreturn]] void broke(const std::string& doing) {
        broken_ = true;
        throw backend_error("lost the connection to postgres at " + where_ + " while trying to " + doing + ": " +
                            trimmed(PQerrorMessage(conn_)));
    }

    result check(result r, const std::string& doing) {
        const auto status = PQresultStatus(r.get());
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
        throw backend_error("postgres at " + where_ + " could not " + doing + ": " +
                            trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_)));
    }

    PGconn* conn_ = nullptr;
    int socket_ = -1;
    std::string where_;
    std::chrono::milliseconds timeout_;
    bool broken_ = false;
    std::deque<std::pair<const std::string*, std::string>> prepared_;  // statement text -> its name here
};

std::int64_t read_int8(const PGresult* r, int row, int column) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, column));
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | bytes[i];  // network byte order
    return static_cast<std::int64_t>(v);
}

backend_capabilities postgres_capabilities() {
    backend_capabilities caps;
    caps.claim_on_read = true;
    caps.store_releases_claim = true;
    caps.pushes_changes = true;
    caps.cheap_entry_count = true;
    caps.cheap_listing = true;
    caps.records_last_use = true;  // in the used_at column
    // Waiters are woken by NOTIFY; this only bounds a wait whose notification was lost.
    caps.max_poll_interval = std::chrono::milliseconds(250);
    return caps;
}

claim_state claim_from(std::int64_t code) {
    return code == 0 ? claim_state::none : code == 2 ? claim_state::expired : claim_state::live;
}

class postgres_store final : public backend {
public:
    explicit postgres_store(postgres_settings settings)
        : backend("postgresql", postgres_capabilities()),
          settings_(std::move(settings)),
          claim_function_(claim_function_for(settings_.table)),
          sql_(statements_for(settings_.table, claim_function_)),
          pool_([this] { return make_connection(); }, settings_.pool_size, settings_.pool_wait,
                settings_.description),
          listener_(
              "postgres change notifications", [this] { return std::make_unique<pg_connection>(settings_); },
              [](pg_connection& c, const std::string& channel, bool on) {
                  c.execute((on ? "LISTEN \"" : "UNLISTEN \"") + channel + "\"");
              },
              [this](pg_connection& c, int wake_fd) {
                  c.wait_for_notifications(std::chrono::milliseconds(500), wake_fd,
                                           [this](std::string_view channel, std::string_view payload) {
                                               heard(channel, payload);
                                           });
              }) {}

protected:
    read_result do_read(const key_ref& ref, std::chrono::nanoseconds) override {
        result r = pool_.acquire()->run(sql_.read, {ref.function, ref.key});
        return row_to_read(r.get());
    }

    // The statement calls the claim function only for rows stale by the estimate of the server's
    // clock (a comparison the server makes cheaply); the function decides by the server's own clock.
    // An entry that turns stale between the estimate and the read is claimed by the next look.

    read_result do_read_or_claim(const key_ref& ref, const claim_request& request) override {
        const std::int64_t now = estimated_server_now_us();
        // Staleness cutoff, kept inside timestamptz's range for "never stale".
        // A negative max_age makes every entry stale, however recent (a store within this
        // microsecond included).
        const std::int64_t cutoff =
            request.max_age < std::chrono::nanoseconds::zero()
                ? now + std::int64_t{3155760000000000}
                : now - std::min<std::int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(request.max_age).count(),
                                               now + std::int64_t{3155760000000000});
        result r = pool_.acquire()->run(sql_.read_or_claim,
                                        {ref.function, ref.key, request.token, param::int8(request.lease.count()),
                                         param::micros(request.max_age), param::int8(cutoff), param::int8(now)});
        read_result out = row_to_read(r.get());
        out.claimed = read_int8(r.get(), 0, 6) == 1;
        if (out.claimed) out.claim = claim_state::none;
        return out;
    }

    void do_store(const key_ref& ref, const store_request& request) override {
        const std::string channel = channel_for(ref.function);
        pool_.acquire()->run(sql_.store, {ref.function, ref.key, request.value,
                                          request.release != nullptr ? std::string_view(*request.release) : std::string_view(),
                                          param::micros(request.age),
                                          request.expires_after ? param::micros(*request.expires_after) : param::null(),
                                          channel});
    }

    bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        return PQntuples(pool_.acquire()->run(sql_.claim, {ref.function, ref.key, token, param::int8(lease.count())}).get()) == 1;
    }

    void do_renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        pool_.acquire()->run(sql_.renew, {ref.function, ref.key, token, param::int8(lease.count())});
    }

    void do_release_claim(const key_ref& ref, const claim_token& token) override {
        pool_.acquire()->run(sql_.release, {ref.function, ref.key, token, channel_for(ref.function)});
    }

    bool do_remove(const key_ref& ref) override {
        return PQntuples(
                   pool_.acquire()->run(sql_.remove, {ref.function, ref.key, channel_for(ref.function)}).get()) > 0;
    }

    void do_touch(std::string_view function, std::span<const std::string> keys) override {
        std::string joined;
        for (const auto& key : keys) {
            if (key.find(',') != std::string::npos) continue;  // never a digest
            if (!joined.empty()) joined += ',';
            joined += key;
        }
        pool_.acquire()->run(sql_.touch, {function, joined});
    }

    void do_clear(std::string_view function) override {
        pool_.acquire()->run(sql_.clear, {function, channel_for(function)});
    }

    void do_clear_claims(std::string_view function) override {
        pool_.acquire()->run(sql_.clear_claims, {function, channel_for(function)});
    }

    std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(max_age).count();
        if (us > std::int64_t{100} * 365 * 24 * 3600 * 1000000) max_age = std::chrono::hours(24 * 365 * 100);
        result r = pool_.acquire()->run(sql_.remove_older, {function, param::micros(max_age), channel_for(function)});
        return static_cast<std::size_t>(read_int8(r.get(), 0, 0));
    }

    std::uint64_t do_entry_count(std::string_view function) override {
        result r = pool_.acquire()->run(sql_.count, {function});
        return static_cast<std::uint64_t>(read_int8(r.get(), 0, 0));
    }

    void do_list_functions(const visitor<function_info>& visit) override {
        result r = pool_.acquire()->run(sql_.functions, {});
        for (int row = 0; row < PQntuples(r.get()); ++row) {
            function_info f;
            f.name.assign(PQgetvalue(r.get(), row, 0), static_cast<std::size_t>(PQgetlength(r.get(), row, 0)));
            f.entries = static_cast<std::uint64_t>(read_int8(r.get(), row, 1));
            f.bytes = static_cast<std::uint64_t>(read_int8(r.get(), row, 2));
            f.oldest = std::chrono::microseconds(read_int8(r.get(), row, 3));
            f.newest = std::chrono::microseconds(read_int8(r.get(), row, 4));
            if (!visit(f)) return;
        }
    }

    // Pages of entries in key order, each fetched with the connection returned before it is visited.
    void do_list_entries(std::string_view function, const visitor<entry_info>& visit) override {
        std::string after;
        for (;;) {
            result r = pool_.acquire()->run(sql_.entries, {function, after});
            const int rows = PQntuples(r.get());
            for (int row = 0; row < rows; ++row) {
                entry_info e;
                e.key.assign(PQgetvalue(r.get(), row, 0), static_cast<std::size_t>(PQgetlength(r.get(), row, 0)));
                e.has_value = read_int8(r.get(), row, 1) == 1;
                e.size = static_cast<std::uint64_t>(read_int8(r.get(), row, 2));
                e.age = std::chrono::microseconds(read_int8(r.get(), row, 3));
                e.claim = claim_from(read_int8(r.get(), row, 4));
                if (e.has_value) e.since_last_use = std::chrono::microseconds(std::max<std::int64_t>(0, read_int8(r.get(), row, 5)));
                if ((e.has_value || e.claim != claim_state::none) && !visit(e)) return;
                after = e.key;
            }
            if (rows < static_cast<int>(listing_page)) return;
        }
    }

    void do_watch(std::string_view function) override {
        const std::string channel = channel_for(function);
        {
            const std::lock_guard lock(channels_mutex_);
            channels_[channel] = std::string(function);
        }
        listener_.watch(channel);
    }

    void do_unwatch(std::string_view function) override {
        const std::string channel = channel_for(function);
        listener_.unwatch(channel);
        const std::lock_guard lock(channels_mutex_);
        channels_.erase(channel);
    }

private:
    static constexpr std::size_t listing_page = 1000;

    struct statements {
        std::string read, read_or_claim, store, claim, renew, release, remove, clear, clear_claims, remove_older,
            count, functions, entries, touch;
    };

    static statements statements_for(const std::string& t, const std::string& claim_function) {
        const std::string now = "clock_timestamp()";
        const std::string where = " WHERE function = $1 AND key = $2";
        const std::string lease = now + " + $4::int8 * interval '1 millisecond'";
        const std::string age_us = "(extract(epoch FROM " + now + " - stored_at) * 1000000)::int8";
        const std::string unexpired = "(expires_at IS NULL OR expires_at > " + now + ")";
        const std::string claim_code = "(CASE WHEN claim_owner IS NULL THEN 0 WHEN claim_expires < " + now +
                                       " THEN 2 ELSE 1 END)::int8";
        // Raw columns, judged by read_row against the server's time (fewer expressions on a hit).
        const std::string row_columns = "t.envelope, t.stored_at, t.expires_at, t.claim_owner IS NOT NULL, "
                                        "t.claim_expires, now()";
        auto notify_on = [](const std::string& channel_param, char kind, const std::string& key) {
            return "pg_notify(" + channel_param + ", '" + std::string(1, kind) + "'" + key + ")";
        };
        return {
            // read: the row's raw columns and the server's time; read_row judges them
            "SELECT " + row_columns + " FROM (SELECT 1) AS one LEFT JOIN " + t + " AS t ON t.function = $1 AND "
            "t.key = $2",
            // read_or_claim: the same, and a claim taken (by the claim function, in the same statement)
            // only when the value is missing or stale and nobody else's claim lives. A fresh hit is a
            // plain read: the function, and its write, run only on a miss.
            "SELECT " + row_columns + ", (CASE WHEN t.stored_at IS NULL OR t.stored_at < $6::timestamptz OR "
            "t.expires_at <= $7::timestamptz THEN " + claim_function + "($1, $2, $3, $4::int8, $5::int8) ELSE 0 END)::int8 "
            "FROM (SELECT 1) AS one LEFT JOIN " + t + " AS t ON t.function = $1 AND t.key = $2",
            // store: $3 envelope (the stored bytes), $4 claim to release, $5 age in us, $6 expiry in us (or NULL), $7 channel
            "WITH up AS (INSERT INTO " + t + " AS c (function, key, envelope, stored_at, expires_at) VALUES ($1, $2, $3, " +
                now + " - $5::int8 * interval '1 microsecond', " + now +
                " + $6::int8 * interval '1 microsecond') ON CONFLICT (function, key) DO UPDATE SET "
                "envelope = EXCLUDED.envelope, stored_at = EXCLUDED.stored_at, expires_at = EXCLUDED.expires_at, "
                "claim_owner = CASE WHEN c.claim_owner = $4 THEN NULL ELSE c.claim_owner END, "
                "claim_expires = CASE WHEN c.claim_owner = $4 THEN NULL ELSE c.claim_expires END RETURNING 1) "
                "SELECT " + notify_on("$7", change_payload::stored, " || $2") + " FROM up",
            "INSERT INTO " + t + " AS c (function, key, claim_owner, claim_expires) VALUES ($1, $2, $3, " + lease +
                ") ON CONFLICT (function, key) DO UPDATE SET claim_owner = EXCLUDED.claim_owner, "
                "claim_expires = EXCLUDED.claim_expires WHERE c.claim_owner IS NULL OR "
                "c.claim_expires < " + now + " OR c.claim_owner = EXCLUDED.claim_owner RETURNING 1",
            "UPDATE " + t + " SET claim_expires = " + lease + where + " AND claim_owner = $3",
            // release: a row holding only the claim goes; otherwise the claim is cleared
            "WITH d AS (DELETE FROM " + t + where + " AND claim_owner = $3 AND envelope IS NULL RETURNING 1), "
            "u AS (UPDATE " + t + " SET claim_owner = NULL, claim_expires = NULL" + where +
                " AND claim_owner = $3 AND envelope IS NOT NULL RETURNING 1) "
                "SELECT " + notify_on("$4", change_payload::claim_released, " || $2") +
                " FROM (SELECT 1 FROM d UNION ALL SELECT 1 FROM u) AS r",
            // remove one value; a live claim on it stays
            "WITH d AS (DELETE FROM " + t + where + " AND claim_owner IS NULL AND envelope IS NOT NULL RETURNING 1), "
            "u AS (UPDATE " + t + " SET envelope = NULL, stored_at = NULL, expires_at = NULL" + where +
                " AND claim_owner IS NOT NULL AND envelope IS NOT NULL RETURNING 1) "
                "SELECT " + notify_on("$3", change_payload::removed, " || $2") +
                " FROM (SELECT 1 FROM d UNION ALL SELECT 1 FROM u) AS r",
            "WITH d AS (DELETE FROM " + t + " WHERE function = $1 AND claim_owner IS NULL), u AS (UPDATE " + t +
                " SET envelope = NULL, stored_at = NULL, expires_at = NULL WHERE function = $1 AND claim_owner IS NOT NULL) "
                "SELECT " + notify_on("$2", change_payload::cleared, "") + "",
            "WITH d AS (DELETE FROM " + t + " WHERE function = $1 AND envelope IS NULL), u AS (UPDATE " + t +
                " SET claim_owner = NULL, claim_expires = NULL WHERE function = $1 AND claim_owner IS NOT NULL AND "
                "envelope IS NOT NULL) SELECT " + notify_on("$2", change_payload::claim_released, "") + "",
            "WITH d AS (DELETE FROM " + t + " WHERE function = $1 AND claim_owner IS NULL AND (stored_at < " + now +
                " - $2::int8 * interval '1 microsecond' OR expires_at <= " + now + ") RETURNING 1), u AS (UPDATE " + t +
                " SET envelope = NULL, stored_at = NULL, expires_at = NULL WHERE function = $1 AND claim_owner IS NOT NULL "
                "AND envelope IS NOT NULL AND (stored_at < " + now + " - $2::int8 * interval '1 microsecond' OR "
                "expires_at <= " + now + ") RETURNING 1), n AS (SELECT (SELECT count(*) FROM d) + "
                "(SELECT count(*) FROM u) AS removed) "
                "SELECT n.removed::int8, (SELECT " + notify_on("$3", change_payload::removed, "") +
                " WHERE n.removed > 0) IS NULL FROM n",
            "SELECT count(*)::int8 FROM " + t + " WHERE function = $1 AND envelope IS NOT NULL AND " + unexpired,
            "SELECT function, count(*)::int8, sum(length(envelope))::int8, max(" + age_us + ")::int8, min(" + age_us +
                ")::int8 FROM " + t + " WHERE envelope IS NOT NULL AND " + unexpired + " GROUP BY function",
            "SELECT key, (CASE WHEN envelope IS NOT NULL AND " + unexpired + " THEN 1 ELSE 0 END)::int8, coalesce(length(envelope), 0)::int8, "
            "coalesce(" + age_us + ", 0), " + claim_code + ", coalesce((extract(epoch FROM " + now +
                " - greatest(stored_at, used_at)) * 1000000)::int8, 0) FROM " + t +
                " WHERE function = $1 AND key > $2 ORDER BY key LIMIT " + std::to_string(listing_page),
            // touch: $2 the keys, joined by commas (keys are hex digests)
            "UPDATE " + t + " SET used_at = " + now + " WHERE function = $1 AND key = ANY(string_to_array($2, ',')) "
                "AND envelope IS NOT NULL",
        };
    }

    /// The SQL function that claims one entry of `table` when it is missing or stale (a name of
    /// at most 63 characters whatever the table's), and the one of schema version 1.
    static std::string claim_function_for(const std::string& table) {
        return "cachier_claim_v2_" + std::string(sha256_hex(table).view().substr(0, 16));
    }
    static std::string version_1_claim_function(const std::string& table) {
        return "cachier_claim_" + std::string(sha256_hex(table).view().substr(0, 16));
    }

    /// A read's row (value, age, claim state), or nothing.
    /// A read's row: value, stored_at, expires_at, claimed, claim_expires and the server's time
    /// (timestamps in binary: microseconds), judged by the server's clock.
    read_result row_to_read(const PGresult* r) {
        read_result out;
        if (PQntuples(r) == 0) return out;
        const std::int64_t now = read_int8(r, 0, 5);
        clock_offset_us_.store(now - local_us(), std::memory_order_relaxed);
        const bool expired = PQgetisnull(r, 0, 2) == 0 && read_int8(r, 0, 2) <= now;
        if (PQgetisnull(r, 0, 0) == 0 && !expired)
            out.entry = stored_entry{std::string(PQgetvalue(r, 0, 0), static_cast<std::size_t>(PQgetlength(r, 0, 0))),
                                     std::chrono::microseconds(now - read_int8(r, 0, 1))};
        if (PQgetisnull(r, 0, 3) == 0 && *PQgetvalue(r, 0, 3) != 0)
            out.claim = read_int8(r, 0, 4) < now ? claim_state::expired : claim_state::live;
        return out;
    }

    static std::int64_t local_us() {
        return std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }

    /// The server's time (microseconds since 2000-01-01), from the last row's; before the first
    /// row, this machine's clock.
    std::int64_t estimated_server_now_us() const { return local_us() + clock_offset_us_.load(std::memory_order_relaxed); }

    static std::int64_t initial_clock_offset_us() {
        constexpr std::int64_t unix_to_2000_us = std::int64_t{946684800} * 1000000;
        const auto wall_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
        return wall_us - unix_to_2000_us - local_us();
    }

    /// The NOTIFY channel of one function's changes: an identifier derived from table and name.
    std::string channel_for(std::string_view function) const {
        std::string seed = settings_.table;
        seed.push_back('\0');
        seed.append(function);
        return "cachier_" + std::string(sha256_hex(seed).view().substr(0, 24));
    }

    /// A notification from the server: tell the sinks, naming the function the channel stands for.
    void heard(std::string_view channel, std::string_view payload) {
        const auto change = change_payload::parse(payload);
        if (!change) return;
        std::string function;
        {
            const std::lock_guard lock(channels_mutex_);
            auto it = channels_.find(std::string(channel));
            if (it == channels_.end()) return;
            function = it->second;
        }
        report_change({function, change->key, change->kind});
    }

    // The first connection creates the schema; an advisory lock makes concurrent first uses, in
    // any number of processes, create it once.
    std::unique_ptr<pg_connection> make_connection() {
        auto c = std::make_unique<pg_connection>(settings_);
        const std::lock_guard lock(schema_mutex_);
        if (!schema_ready_) {
            ensure_schema(*c);
            schema_ready_ = true;
        }
        return c;
    }

    // Schema version 2 (this release): function names as bytea (any bytes), the stored bytes in
    // "envelope". A version 1 table (function text, values without envelope) is dropped and made
    // again: its values would be recomputed anyway, and version 1 processes still running fail on
    // the renamed column (and compute without the cache) instead of reading this release's values.
    void ensure_schema(pg_connection& c) {
        const std::string& t = settings_.table;
        c.execute("BEGIN");
        try {
            c.execute("SELECT pg_advisory_xact_lock(7406823155)");
            c.execute(std::string("CREATE TABLE IF NOT EXISTS ") + versions_table +
                      " (table_name text PRIMARY KEY, version integer NOT NULL)");
            result r = c.execute(std::string("SELECT version, to_regclass('") + t + "') IS NOT NULL FROM " +
                                 versions_table + " RIGHT JOIN (SELECT 1) AS one ON table_name = '" + t + "'");
            const int version = PQgetisnull(r.get(), 0, 0) != 0 ? 0 : std::atoi(PQgetvalue(r.get(), 0, 0));
            const bool table_exists = *PQgetvalue(r.get(), 0, 1) == 't';
            if (version > schema_version)
                throw backend_error(settings_.description + ": table " + t + " has schema version " +
                                    std::to_string(version) + ", made by a newer cachier");
            if (version == 0 && table_exists)
                throw backend_error(settings_.description + ": table " + t +
                                    " exists but was not made by cachier; choose another table name");
            if (version == 1) {
                c.execute("DROP TABLE IF EXISTS " + t);
                c.execute("DROP FUNCTION IF EXISTS " + version_1_claim_function(t) + "(text, text, text, int8, int8)");
            }
            c.execute("CREATE TABLE IF NOT EXISTS " + t +
                      " (function bytea NOT NULL, key text NOT NULL, envelope bytea, stored_at timestamptz, "
                      "claim_owner text, claim_expires timestamptz, expires_at timestamptz, used_at timestamptz, "
                      "PRIMARY KEY (function, key))");
            // used_at (when a value was last used, for eviction) came within schema version 2:
            // tables made before it gain the column, and processes that do not know it ignore it.
            // Asked first: ALTER TABLE locks the table even when the column exists.
            result has_used_at = c.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('" + t +
                                           "') AND attname = 'used_at' AND NOT attisdropped");
            if (*PQgetvalue(has_used_at.get(), 0, 0) == '0')
                c.execute("ALTER TABLE " + t + " ADD COLUMN IF NOT EXISTS used_at timestamptz");
            // The claim of read_or_claim: 1 when the token holds the claim afterwards. PL/pgSQL, so
            // that each session plans its INSERT once (a SQL function would plan it at every call).
            c.execute("CREATE OR REPLACE FUNCTION " + claim_function_ +
                      "(f bytea, k text, owner text, lease_ms int8, max_age_us int8) RETURNS int8 "
                      "LANGUAGE plpgsql VOLATILE AS $$ DECLARE n int8; BEGIN "
                      "INSERT INTO " + t + " AS c (function, key, claim_owner, claim_expires) "
                      "VALUES (f, k, owner, clock_timestamp() + lease_ms * interval '1 millisecond') "
                      "ON CONFLICT (function, key) DO UPDATE SET claim_owner = EXCLUDED.claim_owner, "
                      "claim_expires = EXCLUDED.claim_expires WHERE (c.claim_owner IS NULL OR "
                      "c.claim_expires < clock_timestamp() OR c.claim_owner = EXCLUDED.claim_owner) AND "
                      "(c.envelope IS NULL OR c.expires_at <= clock_timestamp() OR c.stored_at < clock_timestamp() - "
                      "max_age_us * interval '1 microsecond'); GET DIAGNOSTICS n = ROW_COUNT; RETURN n; END $$");
            c.execute(std::string("INSERT INTO ") + versions_table + " VALUES ('" + t + "', " +
                      std::to_string(schema_version) + ") ON CONFLICT (table_name) DO UPDATE SET version = EXCLUDED.version");
            c.execute("COMMIT");
        } catch (...) {
            try {
                c.execute("ROLLBACK");
            } catch (...) {
            }
            throw;
        }
    }

    const postgres_settings settings_;
    const std::string claim_function_;
    const statements sql_;
    std::mutex schema_mutex_;
    bool schema_ready_ = false;
    connection_pool<pg_connection> pool_;
    std::mutex channels_mutex_;
    std::map<std::string, std::string> channels_;  // NOTIFY channel -> function, for watched functions
    std::atomic<std::int64_t> clock_offset_us_{initial_clock_offset_us()};  // server time - steady clock
    change_listener<pg_connection> listener_;       // its thread uses the members above
    on_fork_child fork_{[this] {
        renew_lock(schema_mutex_);
        renew_lock(channels_mutex_);
    }};
};

}  // namespace

std::shared_ptr<backend> make_postgres_backend(const sql_options& options) {
    return std::make_shared<postgres_store>(settings_from(options));
}

}  // namespace cachier::detail::sql
