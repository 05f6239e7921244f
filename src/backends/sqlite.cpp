// The SQLite backend: one table keyed by (function, key), a pool of connections in WAL mode with
// prepared statements, claims decided by single UPSERT statements, ages by the local clock (the
// database is on this machine). Waiters in other processes find changes by short polling.

#include <atomic>
#include <utility>
#include <vector>
#include <mutex>

#include <sqlite3.h>

#include <cachier/errors.hpp>

#include "connection_pool.hpp"
#include "sql_common.hpp"

namespace cachier::detail::sql {
namespace {

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// One SQLite connection with its prepared statements.
class sqlite_connection {
public:
    sqlite_connection(const sqlite_settings& settings, const std::string& open_name, bool create_schema)
        : where_(settings.path.empty() ? "sqlite://:memory:" : "sqlite://" + settings.path) {
        const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
        if (sqlite3_open_v2(open_name.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
            const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
            sqlite3_close(db_);
            throw backend_error("cannot open " + where_ + ": " + why);
        }
        sqlite3_busy_timeout(db_, static_cast<int>(settings.busy_timeout.count()));
        try {
            if (!settings.path.empty()) execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
            if (create_schema) ensure_schema(settings.table);
        } catch (...) {
            close();
            throw;
        }
    }
    ~sqlite_connection() { close(); }
    sqlite_connection(const sqlite_connection&) = delete;
    sqlite_connection& operator=(const sqlite_connection&) = delete;

    [[nodiscard]] bool usable() const noexcept { return db_ != nullptr; }

    /// The prepared form of `sql`, reset and ready for bindings (every parameter is bound by the
    /// caller). Statements are found by the address of their text, which lives as long as the
    /// backend: a pointer comparison, not a string comparison, on every call.
    sqlite3_stmt* statement(const std::string& sql) {
        for (const auto& [text, stmt] : statements_) {
            if (text == &sql) {
                sqlite3_reset(stmt);
                return stmt;
            }
        }
        sqlite3_stmt* stmt = nullptr;
        check(sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr), "prepare");
        statements_.emplace_back(&sql, stmt);
        return stmt;
    }

    /// Steps a statement; true when it produced a row.
    bool step(sqlite3_stmt* stmt) {
        const int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        check(rc, "run a statement on");
        return false;
    }

    void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
        check(sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC), "bind");
    }
    void bind_blob(sqlite3_stmt* s, int i, std::string_view v) {
        check(sqlite3_bind_blob64(s, i, v.data(), v.size(), SQLITE_STATIC), "bind");
    }
    void bind_int(sqlite3_stmt* s, int i, std::int64_t v) { check(sqlite3_bind_int64(s, i, v), "bind"); }

    [[nodiscard]] int changes() const { return sqlite3_changes(db_); }

    void execute(const char* sql) {
        char* error = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
            const std::string why = error != nullptr ? error : sqlite3_errmsg(db_);
            sqlite3_free(error);
            throw backend_error(where_ + ": " + why);
        }
    }

private:
    void check(int rc, const char* doing) {
        if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
        const std::string why = sqlite3_errmsg(db_);
        if (rc == SQLITE_NOMEM || rc == SQLITE_IOERR || rc == SQLITE_CORRUPT || rc == SQLITE_CANTOPEN) close();
        throw backend_error("cannot " + std::string(doing) + " " + where_ + ": " + why);
    }

    // Safe when many processes start at once: BEGIN IMMEDIATE serializes them on the database lock.
    void ensure_schema(const std::string& table) {
        execute("BEGIN IMMEDIATE");
        try {
            execute((std::string("CREATE TABLE IF NOT EXISTS ") + versions_table +
                     " (table_name TEXT PRIMARY KEY, version INTEGER NOT NULL)")
                        .c_str());
            execute(("CREATE TABLE IF NOT EXISTS " + table +
                     " (function TEXT NOT NULL, key TEXT NOT NULL, value BLOB, stored_at INTEGER, "
                     "claim_owner TEXT, claim_expires INTEGER, PRIMARY KEY (function, key)) WITHOUT ROWID")
                        .c_str());
            execute((std::string("INSERT INTO ") + versions_table + " VALUES ('" + table + "', " +
                     std::to_string(schema_version) + ") ON CONFLICT DO NOTHING")
                        .c_str());
            const std::string select = std::string("SELECT version FROM ") + versions_table + " WHERE table_name = ?";
            sqlite3_stmt* s = nullptr;
            check(sqlite3_prepare_v2(db_, select.c_str(), -1, &s, nullptr), "prepare");
            const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> finalize(s, sqlite3_finalize);
            bind_text(s, 1, table);
            const std::int64_t version = step(s) ? sqlite3_column_int64(s, 0) : 0;
            if (version > schema_version)
                throw backend_error(where_ + ": table " + table + " has schema version " + std::to_string(version) +
                                    ", made by a newer cachier (this one knows version " +
                                    std::to_string(schema_version) + ")");
            execute("COMMIT");
        } catch (...) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }

    void close() noexcept {
        for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
        statements_.clear();
        if (db_ != nullptr) sqlite3_close(db_);
        db_ = nullptr;
    }

    sqlite3* db_ = nullptr;
    std::string where_;
    std::vector<std::pair<const std::string*, sqlite3_stmt*>> statements_;
};

class sqlite_store final : public backend {
public:
    explicit sqlite_store(sqlite_settings settings)
        : settings_(std::move(settings)),
          open_name_(settings_.path.empty()
                         ? "file:cachier-memory-" + std::to_string(next_memory_id()) + "?mode=memory&cache=shared"
                         : settings_.path),
          sql_(statements_for(settings_.table)),
          pool_([this] { return make_connection(); }, settings_.pool_size, settings_.busy_timeout + std::chrono::seconds(1),
                settings_.path.empty() ? "sqlite://:memory:" : "sqlite://" + settings_.path) {
        if (settings_.path.empty()) keeper_ = make_connection();  // keeps the in-memory database alive
    }

    std::string_view kind() const noexcept override { return "sqlite"; }
    bool claims_expire() const noexcept override { return true; }
    // Other processes' writes are found by polling; 16 ms keeps a waiter within 20 ms of a store.
    std::chrono::milliseconds max_poll_interval() const noexcept override { return std::chrono::milliseconds(16); }

    std::optional<stored_entry> load(const key_ref& ref) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = c->statement(sql_.load);
        c->bind_text(s, 1, ref.function);
        c->bind_text(s, 2, ref.key);
        if (!c->step(s)) return std::nullopt;
        const auto* bytes = static_cast<const char*>(sqlite3_column_blob(s, 0));
        stored_entry entry{std::string(bytes == nullptr ? "" : bytes, static_cast<std::size_t>(sqlite3_column_bytes(s, 0))),
                           std::chrono::microseconds(now_us() - sqlite3_column_int64(s, 1))};
        sqlite3_reset(s);
        return entry;
    }

    void store(const key_ref& ref, std::string_view value, const claim_token* held) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = c->statement(sql_.store);
        c->bind_text(s, 1, ref.function);
        c->bind_text(s, 2, ref.key);
        c->bind_blob(s, 3, value);
        c->bind_int(s, 4, now_us());
        c->bind_text(s, 5, held != nullptr ? std::string_view(*held) : std::string_view());
        c->step(s);
    }

    bool try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = c->statement(sql_.claim);
        const std::int64_t now = now_us();
        c->bind_text(s, 1, ref.function);
        c->bind_text(s, 2, ref.key);
        c->bind_text(s, 3, token);
        c->bind_int(s, 4, now + std::chrono::duration_cast<std::chrono::microseconds>(lease).count());
        c->bind_int(s, 5, now);
        c->step(s);
        return c->changes() == 1;
    }

    void renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = c->statement(sql_.renew);
        c->bind_text(s, 1, ref.function);
        c->bind_text(s, 2, ref.key);
        c->bind_text(s, 3, token);
        c->bind_int(s, 4, now_us() + std::chrono::duration_cast<std::chrono::microseconds>(lease).count());
        c->step(s);
    }

    void release_claim(const key_ref& ref, const claim_token& token) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = c->statement(sql_.release);
        c->bind_text(s, 1, ref.function);
        c->bind_text(s, 2, ref.key);
        c->bind_text(s, 3, token);
        c->step(s);
    }

    void clear(std::string_view function) override {
        run_for_function(sql_.clear_unclaimed, function);
        run_for_function(sql_.clear_claimed, function);
    }

    void clear_claims(std::string_view function) override { run_for_function(sql_.clear_claims, function); }

    std::size_t remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const std::int64_t cutoff = now_us() - std::chrono::duration_cast<std::chrono::microseconds>(max_age).count();
        std::size_t removed = 0;
        auto c = pool_.acquire();
        for (const std::string* sql : {&sql_.remove_unclaimed, &sql_.remove_claimed}) {
            sqlite3_stmt* s = c->statement(*sql);
            c->bind_text(s, 1, function);
            c->bind_int(s, 2, cutoff);
            c->step(s);
            removed += static_cast<std::size_t>(c->changes());
        }
        return removed;
    }

    std::optional<std::uint64_t> entry_count(std::string_view function) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = c->statement(sql_.count);
        c->bind_text(s, 1, function);
        const std::uint64_t n = c->step(s) ? static_cast<std::uint64_t>(sqlite3_column_int64(s, 0)) : 0;
        sqlite3_reset(s);
        return n;
    }

private:
    struct statements {
        std::string load, store, claim, renew, release, clear_unclaimed, clear_claimed, clear_claims,
            remove_unclaimed, remove_claimed, count;
    };

    // Set-based statements, one function at a time; claims decided by one UPSERT each.
    static statements statements_for(const std::string& t) {
        const std::string where = " WHERE function = ?1 AND key = ?2";
        return {
            "SELECT value, stored_at FROM " + t + where + " AND value IS NOT NULL",
            "INSERT INTO " + t + " (function, key, value, stored_at) VALUES (?1, ?2, ?3, ?4) "
            "ON CONFLICT (function, key) DO UPDATE SET value = excluded.value, stored_at = excluded.stored_at, "
            "claim_owner = CASE WHEN claim_owner = ?5 THEN NULL ELSE claim_owner END, "
            "claim_expires = CASE WHEN claim_owner = ?5 THEN NULL ELSE claim_expires END",
            "INSERT INTO " + t + " (function, key, claim_owner, claim_expires) VALUES (?1, ?2, ?3, ?4) "
            "ON CONFLICT (function, key) DO UPDATE SET claim_owner = excluded.claim_owner, "
            "claim_expires = excluded.claim_expires "
            "WHERE claim_owner IS NULL OR claim_expires < ?5 OR claim_owner = excluded.claim_owner",
            "UPDATE " + t + " SET claim_expires = ?4" + where + " AND claim_owner = ?3",
            "UPDATE " + t + " SET claim_owner = NULL, claim_expires = NULL" + where + " AND claim_owner = ?3",
            "DELETE FROM " + t + " WHERE function = ?1 AND claim_owner IS NULL",
            "UPDATE " + t + " SET value = NULL, stored_at = NULL WHERE function = ?1",
            "UPDATE " + t + " SET claim_owner = NULL, claim_expires = NULL WHERE function = ?1",
            "DELETE FROM " + t + " WHERE function = ?1 AND claim_owner IS NULL AND stored_at < ?2",
            "UPDATE " + t + " SET value = NULL, stored_at = NULL WHERE function = ?1 AND stored_at < ?2",
            "SELECT count(*) FROM " + t + " WHERE function = ?1 AND value IS NOT NULL",
        };
    }

    void run_for_function(const std::string& sql, std::string_view function) {
        auto c = pool_.acquire();
        sqlite3_stmt* s = c->statement(sql);
        c->bind_text(s, 1, function);
        c->step(s);
    }

    // Connections are made one at a time, and the first one creates the schema before any other
    // connection of this backend can run a statement.
    std::unique_ptr<sqlite_connection> make_connection() {
        const std::lock_guard lock(schema_mutex_);
        auto c = std::make_unique<sqlite_connection>(settings_, open_name_, !schema_ready_);
        schema_ready_ = true;
        return c;
    }

    static std::uint64_t next_memory_id() {
        static std::atomic<std::uint64_t> id{0};
        return id.fetch_add(1);
    }

    const sqlite_settings settings_;
    const std::string open_name_;
    const statements sql_;
    std::mutex schema_mutex_;
    bool schema_ready_ = false;
    std::unique_ptr<sqlite_connection> keeper_;
    connection_pool<sqlite_connection> pool_;
};

}  // namespace

std::shared_ptr<backend> make_sqlite_backend(const sqlite_settings& settings) {
    return std::make_shared<sqlite_store>(settings);
}

}  // namespace cachier::detail::sql
