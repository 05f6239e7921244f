// The PostgreSQL backend: one table keyed by (function, key), a pool of libpq connections with
// prepared statements, claims decided by one INSERT ... ON CONFLICT ... WHERE lease expired, ages
// by the server's clock, waiters woken by LISTEN/NOTIFY.

#include <atomic>
#include <cstring>
#include <mutex>
#include <set>
#include <vector>

#include <libpq-fe.h>
#include <poll.h>
#include <sys/socket.h>

#include <cachier/errors.hpp>

#include "change_listener.hpp"
#include "connection_pool.hpp"
#include "sql_common.hpp"

namespace cachier::detail::sql {
namespace {

struct result_deleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result = std::unique_ptr<PGresult, result_deleter>;

std::string trimmed(const char* message) {
    std::string s = message != nullptr ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

/// A parameter: text, or binary bytes (for bytea).
struct param {
    std::string_view bytes;
    bool binary = false;
};

/// One libpq connection with the statements it has prepared.
class pg_connection {
public:
    pg_connection(const postgres_settings& settings) : where_(settings.description) {
        conn_ = PQconnectdb(settings.conninfo.c_str());
        if (conn_ == nullptr) throw backend_error("cannot allocate a connection to " + where_);
        if (PQstatus(conn_) != CONNECTION_OK) {
            const std::string why = trimmed(PQerrorMessage(conn_));
            PQfinish(conn_);
            conn_ = nullptr;
            throw backend_error("cannot connect to " + where_ + ": " + why);
        }
        socket_ = PQsocket(conn_);
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);  // "already exists, skipping" etc.
    }
    ~pg_connection() {
        if (conn_ != nullptr) PQfinish(conn_);
    }
    pg_connection(const pg_connection&) = delete;
    pg_connection& operator=(const pg_connection&) = delete;

    [[nodiscard]] bool usable() const noexcept { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

    /// Runs a statement prepared under `name` (preparing it on first use); binary results.
    result run(const std::string& name, const std::string& sql, const std::vector<param>& params) {
        if (prepared_.count(name) == 0) {
            check(result(PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(params.size()), nullptr)),
                  "prepare " + name);
            prepared_.insert(name);
        }
        // libpq reads text parameters up to their NUL, and views need not have one: copy them.
        std::vector<std::string> text;
        text.reserve(params.size());
        std::vector<const char*> values;
        std::vector<int> lengths;
        std::vector<int> formats;
        for (const auto& p : params) {
            values.push_back(p.binary ? p.bytes.data() : text.emplace_back(p.bytes).c_str());
            lengths.push_back(static_cast<int>(p.bytes.size()));
            formats.push_back(p.binary ? 1 : 0);
        }
        return check(result(PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()), values.data(),
                                           lengths.data(), formats.data(), 1)),
                     name);
    }

    /// Runs SQL text without parameters.
    result execute(const std::string& sql) { return check(result(PQexec(conn_, sql.c_str())), "run a statement"); }

    /// Waits up to `timeout` for notifications; calls `on_payload` for each one.
    template <class OnPayload>
    void wait_for_notifications(std::chrono::milliseconds timeout, OnPayload&& on_payload) {
        pollfd p{socket_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) > 0 && PQconsumeInput(conn_) == 0)
            throw backend_error("lost the notification connection to " + where_ + ": " + trimmed(PQerrorMessage(conn_)));
        while (PGnotify* n = PQnotifies(conn_)) {
            on_payload(std::string_view(n->extra));
            PQfreemem(n);
        }
    }

    /// Makes a blocked wait_for_notifications return (from another thread).
    void interrupt() noexcept {
        if (socket_ >= 0) ::shutdown(socket_, SHUT_RDWR);
    }

private:
    result check(result r, const std::string& doing) {
        const auto status = PQresultStatus(r.get());
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
        throw backend_error("postgres at " + where_ + " could not " + doing + ": " +
                            trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn_)));
    }

    PGconn* conn_ = nullptr;
    int socket_ = -1;
    std::string where_;
    std::set<std::string> prepared_;
};

std::int64_t read_int8(const PGresult* r, int row, int column) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, column));
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | bytes[i];  // network byte order
    return static_cast<std::int64_t>(v);
}

class postgres_store final : public backend {
public:
    explicit postgres_store(postgres_settings settings)
        : settings_(std::move(settings)),
          channel_(settings_.table + "_changes"),
          sql_(statements_for(settings_.table, channel_)),
          pool_([this] { return make_connection(); }, settings_.pool_size, std::chrono::seconds(5),
                settings_.description),
          listener_("postgres change notifications",
                    [this] {
                        auto c = std::make_unique<pg_connection>(settings_);
                        c->execute("LISTEN " + channel_);
                        return c;
                    },
                    [this](pg_connection& c) {
                        c.wait_for_notifications(std::chrono::milliseconds(500),
                                                 [this](std::string_view key) { notify_change(key_ref{{}, key}); });
                    }) {}

    std::string_view kind() const noexcept override { return "postgresql"; }
    bool claims_expire() const noexcept override { return true; }
    // Waiters are woken by NOTIFY; this only bounds a wait whose notification was lost.
    std::chrono::milliseconds max_poll_interval() const noexcept override { return std::chrono::milliseconds(250); }

    std::optional<stored_entry> load(const key_ref& ref) override {
        result r = pool_.acquire()->run("load", sql_.load, {{ref.function}, {ref.key}});
        if (PQntuples(r.get()) == 0) return std::nullopt;
        return stored_entry{std::string(PQgetvalue(r.get(), 0, 0), static_cast<std::size_t>(PQgetlength(r.get(), 0, 0))),
                            std::chrono::microseconds(read_int8(r.get(), 0, 1))};
    }

    void store(const key_ref& ref, std::string_view value, const claim_token* held) override {
        pool_.acquire()->run("store", sql_.store,
                             {{ref.function}, {ref.key}, {value, true}, {held != nullptr ? *held : std::string_view()}});
    }

    bool try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        const std::string lease_ms = std::to_string(lease.count());
        return PQntuples(pool_.acquire()->run("claim", sql_.claim, {{ref.function}, {ref.key}, {token}, {lease_ms}}).get()) == 1;
    }

    void renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        const std::string lease_ms = std::to_string(lease.count());
        pool_.acquire()->run("renew", sql_.renew, {{ref.function}, {ref.key}, {token}, {lease_ms}});
    }

    void release_claim(const key_ref& ref, const claim_token& token) override {
        pool_.acquire()->run("release", sql_.release, {{ref.function}, {ref.key}, {token}});
    }

    void clear(std::string_view function) override { pool_.acquire()->run("clear", sql_.clear, {{function}}); }

    void clear_claims(std::string_view function) override {
        pool_.acquire()->run("clear_claims", sql_.clear_claims, {{function}});
    }

    std::size_t remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(max_age).count();
        if (us > std::int64_t{100} * 365 * 24 * 3600 * 1000000) return 0;  // nothing is that old
        const std::string max_age_us = std::to_string(us);
        result r = pool_.acquire()->run("remove_older", sql_.remove_older, {{function}, {max_age_us}});
        return static_cast<std::size_t>(read_int8(r.get(), 0, 0));
    }

    std::optional<std::uint64_t> entry_count(std::string_view function) override {
        result r = pool_.acquire()->run("count", sql_.count, {{function}});
        return static_cast<std::uint64_t>(read_int8(r.get(), 0, 0));
    }

private:
    struct statements {
        std::string load, store, claim, renew, release, clear, clear_claims, remove_older, count;
    };

    static statements statements_for(const std::string& t, const std::string& channel) {
        const std::string where = " WHERE function = $1 AND key = $2";
        const std::string lease = "clock_timestamp() + $4::int8 * interval '1 millisecond'";
        return {
            "SELECT value, (extract(epoch FROM clock_timestamp() - stored_at) * 1000000)::int8 FROM " + t + where +
                " AND value IS NOT NULL",
            "WITH up AS (INSERT INTO " + t + " AS c (function, key, value, stored_at) VALUES ($1, $2, $3, "
            "clock_timestamp()) ON CONFLICT (function, key) DO UPDATE SET value = EXCLUDED.value, "
            "stored_at = EXCLUDED.stored_at, "
            "claim_owner = CASE WHEN c.claim_owner = $4 THEN NULL ELSE c.claim_owner END, "
            "claim_expires = CASE WHEN c.claim_owner = $4 THEN NULL ELSE c.claim_expires END RETURNING 1) "
            "SELECT pg_notify('" + channel + "', $2) FROM up",
            "INSERT INTO " + t + " AS c (function, key, claim_owner, claim_expires) VALUES ($1, $2, $3, " + lease +
                ") ON CONFLICT (function, key) DO UPDATE SET claim_owner = EXCLUDED.claim_owner, "
                "claim_expires = EXCLUDED.claim_expires WHERE c.claim_owner IS NULL OR "
                "c.claim_expires < clock_timestamp() OR c.claim_owner = EXCLUDED.claim_owner RETURNING 1",
            "UPDATE " + t + " SET claim_expires = " + lease + where + " AND claim_owner = $3",
            "WITH r AS (UPDATE " + t + " SET claim_owner = NULL, claim_expires = NULL" + where +
                " AND claim_owner = $3 RETURNING 1) SELECT pg_notify('" + channel + "', $2) FROM r",
            "WITH d AS (DELETE FROM " + t + " WHERE function = $1 AND claim_owner IS NULL) UPDATE " + t +
                " SET value = NULL, stored_at = NULL WHERE function = $1 AND claim_owner IS NOT NULL",
            "WITH r AS (UPDATE " + t + " SET claim_owner = NULL, claim_expires = NULL WHERE function = $1 AND "
            "claim_owner IS NOT NULL RETURNING key) SELECT pg_notify('" + channel + "', key) FROM r",
            "WITH d AS (DELETE FROM " + t + " WHERE function = $1 AND claim_owner IS NULL AND stored_at < "
            "clock_timestamp() - $2::int8 * interval '1 microsecond' RETURNING 1), u AS (UPDATE " + t +
                " SET value = NULL, stored_at = NULL WHERE function = $1 AND claim_owner IS NOT NULL AND stored_at < "
                "clock_timestamp() - $2::int8 * interval '1 microsecond' RETURNING 1) "
                "SELECT ((SELECT count(*) FROM d) + (SELECT count(*) FROM u))::int8",
            "SELECT count(*)::int8 FROM " + t + " WHERE function = $1 AND value IS NOT NULL",
        };
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

    void ensure_schema(pg_connection& c) {
        const std::string& t = settings_.table;
        c.execute("BEGIN");
        try {
            c.execute("SELECT pg_advisory_xact_lock(7406823155)");
            c.execute(std::string("CREATE TABLE IF NOT EXISTS ") + versions_table +
                      " (table_name text PRIMARY KEY, version integer NOT NULL)");
            c.execute("CREATE TABLE IF NOT EXISTS " + t +
                      " (function text NOT NULL, key text NOT NULL, value bytea, stored_at timestamptz, "
                      "claim_owner text, claim_expires timestamptz, PRIMARY KEY (function, key))");
            c.execute(std::string("INSERT INTO ") + versions_table + " VALUES ('" + t + "', " +
                      std::to_string(schema_version) + ") ON CONFLICT DO NOTHING");
            result r = c.execute(std::string("SELECT version FROM ") + versions_table + " WHERE table_name = '" + t + "'");
            const int version = PQntuples(r.get()) == 1 ? std::atoi(PQgetvalue(r.get(), 0, 0)) : 0;
            if (version > schema_version)
                throw backend_error(settings_.description + ": table " + t + " has schema version " +
                                    std::to_string(version) + ", made by a newer cachier");
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
    const std::string channel_;
    const statements sql_;
    std::mutex schema_mutex_;
    bool schema_ready_ = false;
    connection_pool<pg_connection> pool_;
    change_listener<pg_connection> listener_;  // last: its thread uses the members above
};

}  // namespace

std::shared_ptr<backend> make_postgres_backend(const postgres_settings& settings) {
    return std::make_shared<postgres_store>(settings);
}

}  // namespace cachier::detail::sql
