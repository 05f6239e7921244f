// The SQLite backend: one table keyed by (function, key), a pool of connections in WAL mode with
// prepared statements, claims decided by single UPSERT statements, ages by the local clock (the
// database is on this machine). Waiters in other processes find changes by short polling.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <initializer_list>
#include <span>
#include <thread>
#include <utility>
#include <vector>
#include <mutex>

#include <sqlite3.h>

#include <cachier/errors.hpp>

#include "../common/connection_pool.hpp"
#include "../sql/sql_common.hpp"
#include "../../read_limit.hpp"
#include "../../split_reader.hpp"

namespace cachier::detail::sql {
namespace {

/// What the SQLite backend needs from sql_options.
struct sqlite_settings {
    std::string path;  // empty for an in-memory database
    std::string table;
    std::chrono::milliseconds busy_timeout;
    std::size_t pool_size;
    std::chrono::nanoseconds pool_wait;
};

sqlite_settings settings_from(const sql_options& o) {
    sqlite_settings s;
    const std::string_view rest = std::string_view(o.url).substr(std::string_view("sqlite://").size());
    if (rest != ":memory:") {
        if (rest.size() < 2 || rest.front() != '/')
            throw url_error("path", "expected sqlite:///absolute/path.db or sqlite://:memory:");
        s.path = std::string(rest);
    }
    s.table = o.table;
    s.busy_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.busy_timeout.get());
    s.pool_size = s.path.empty() ? 1 : o.pool.size;  // one in-memory database, one connection
    s.pool_wait = o.pool.wait_timeout.value_or(o.busy_timeout.get() + std::chrono::seconds(1)).get();
    return s;
}

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// One SQLite connection with its prepared statements.
class sqlite_connection {
public:
    sqlite_connection(const sqlite_settings& settings, const std::string& open_name, bool create_schema)
        : where_(settings.path.empty() ? "sqlite://:memory:" : "sqlite://" + settings.path),
          busy_timeout_(settings.busy_timeout) {
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

    /// Steps a statement; true when it produced a row. SQLite returns "database is locked" without
    /// calling its busy handler in a few cases (another process switching the file to WAL, or
    /// recovering it); the statement (autocommit: nothing of it happened) is then run again, until
    /// busy_timeout.
    bool step(sqlite3_stmt* stmt) {
        const auto deadline = std::chrono::steady_clock::now() + busy_timeout_;
        for (auto pause = std::chrono::microseconds(100);; pause = std::min(pause * 2, std::chrono::microseconds(20000))) {
            const int rc = sqlite3_step(stmt);
            if (rc == SQLITE_ROW) return true;
            if (rc == SQLITE_DONE) return false;
            if (!retryable(rc) || std::chrono::steady_clock::now() >= deadline) {
                check(rc, "run a statement on");
                return false;
            }
            sqlite3_reset(stmt);  // keeps the bindings
            std::this_thread::sleep_for(pause);
        }
    }

    void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
        check(sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC), "bind");
    }
    void bind_blob(sqlite3_stmt* s, int i, std::string_view v) {
        check(sqlite3_bind_blob64(s, i, v.data(), v.size(), SQLITE_STATIC), "bind");
    }
    void bind_int(sqlite3_stmt* s, int i, std::int64_t v) { check(sqlite3_bind_int64(s, i, v), "bind"); }
    void bind_null(sqlite3_stmt* s, int i) { check(sqlite3_bind_null(s, i), "bind"); }

    [[nodiscard]] int changes() const { return sqlite3_changes(db_); }

    /// Reads bytes of `column` of row `rowid` of `table` straight into `parts` (each an offset into
    /// the value and a buffer), without the copy of the whole value a column read makes. Run while a
    /// statement of this connection reading the row is active, it reads in the same transaction.
    void read_blob(const std::string& table, const char* column, std::int64_t rowid,
                   std::initializer_list<std::pair<std::size_t, std::span<char>>> parts) {
        sqlite3_blob* blob = nullptr;
        check(sqlite3_blob_open(db_, "main", table.c_str(), column, rowid, 0, &blob), "open a value in");
        const std::unique_ptr<sqlite3_blob, int (*)(sqlite3_blob*)> close_blob(blob, sqlite3_blob_close);
        for (const auto& [offset, buffer] : parts)
            if (!buffer.empty())
                check(sqlite3_blob_read(blob, buffer.data(), static_cast<int>(buffer.size()), static_cast<int>(offset)),
                      "read a value in");
    }

    /// Ends an open transaction without its changes (nothing to do when none is open).
    void rollback() noexcept {
        if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }

    void execute(const char* sql) {
        const auto deadline = std::chrono::steady_clock::now() + busy_timeout_;
        for (auto pause = std::chrono::microseconds(100);; pause = std::min(pause * 2, std::chrono::microseconds(20000))) {
            char* error = nullptr;
            const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
            if (rc == SQLITE_OK) return;
            const std::string why = error != nullptr ? error : sqlite3_errmsg(db_);
            sqlite3_free(error);
            // BEGIN IMMEDIATE and PRAGMA journal_mode run alone: safe to run again.
            if (!retryable(rc) || std::chrono::steady_clock::now() >= deadline || sqlite3_get_autocommit(db_) == 0)
                throw backend_error(where_ + ": " + why);
            std::this_thread::sleep_for(pause);
        }
    }

private:
    static bool retryable(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

    void check(int rc, const char* doing) {
        if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
        const std::string why = sqlite3_errmsg(db_);
        if (rc == SQLITE_NOMEM || rc == SQLITE_IOERR || rc == SQLITE_CORRUPT || rc == SQLITE_CANTOPEN) close();
        throw backend_error("cannot " + std::string(doing) + " " + where_ + ": " + why);
    }

    // Safe when many processes start at once: BEGIN IMMEDIATE serializes them on the database lock.
    // Schema version 2 (this release): function names as BLOB (any bytes), the stored bytes in
    // "envelope". A version 1 table is dropped and made again (its values, without envelope, would
    // be recomputed anyway); version 1 processes still running fail on the renamed column instead of
    // reading this release's values.
    void ensure_schema(const std::string& table) {
        execute("BEGIN IMMEDIATE");
        try {
            execute((std::string("CREATE TABLE IF NOT EXISTS ") + versions_table +
                     " (table_name TEXT PRIMARY KEY, version INTEGER NOT NULL)")
                        .c_str());
            const std::int64_t version = recorded_version(table);
            if (version > schema_version)
                throw backend_error(where_ + ": table " + table + " has schema version " + std::to_string(version) +
                                    ", made by a newer cachier (this one knows version " +
                                    std::to_string(schema_version) + ")");
            if (version == 0 && table_exists(table))
                throw backend_error(where_ + ": table " + table +
                                    " exists but was not made by cachier; choose another table name");
            if (version == 1) execute(("DROP TABLE IF EXISTS " + table).c_str());
            execute(create_table(table).c_str());
            // used_at (when a value was last used, for eviction) came within schema version 2:
            // tables made before it gain the column, and processes that do not know it ignore it.
            if (query_int("SELECT count(*) FROM pragma_table_info(?1) WHERE name = 'used_at'", table) == 0)
                execute(("ALTER TABLE " + table + " ADD COLUMN used_at INTEGER").c_str());
            if (without_rowid(table)) move_to_rowid_layout(table);
            execute((std::string("INSERT INTO ") + versions_table + " VALUES ('" + table + "', " +
                     std::to_string(schema_version) + ") ON CONFLICT (table_name) DO UPDATE SET version = excluded.version")
                        .c_str());
            execute("COMMIT");
        } catch (...) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }

    /// The table's layout: a rowid table whose key (function, key) is an index of small cells and
    /// whose stored bytes come last in each row. A lookup compares keys without reading any value,
    /// and the other columns are read without walking a large value's overflow pages.
    static std::string create_table(const std::string& table) {
        return "CREATE TABLE IF NOT EXISTS " + table +
               " (function BLOB NOT NULL, key TEXT NOT NULL, stored_at INTEGER, claim_owner TEXT, "
               "claim_expires INTEGER, expires_at INTEGER, used_at INTEGER, envelope BLOB, PRIMARY KEY (function, key))";
    }

    /// Whether `table` has the layout of earlier releases: WITHOUT ROWID, where every lookup that
    /// meets a large value's row reads the whole value to compare its key.
    bool without_rowid(const std::string& table) {
        return query_int("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE "
                         "AND sql LIKE '%WITHOUT ROWID%'",
                         table) > 0;
    }

    /// Copies a table of the earlier layout into the current one, in the caller's transaction. The
    /// columns keep their names, so processes of earlier releases go on working with it.
    void move_to_rowid_layout(const std::string& table) {
        const std::string moving = "cachier_moving_" + table;
        const std::string columns = "function, key, stored_at, claim_owner, claim_expires, expires_at, used_at, envelope";
        execute(("DROP TABLE IF EXISTS " + moving).c_str());
        execute(create_table(moving).c_str());
        execute(("INSERT INTO " + moving + " (" + columns + ") SELECT " + columns + " FROM " + table).c_str());
        execute(("DROP TABLE " + table).c_str());
        execute(("ALTER TABLE " + moving + " RENAME TO " + table).c_str());
    }

    /// The schema version recorded for `table`; 0 when none is.
    std::int64_t recorded_version(const std::string& table) {
        return query_int(std::string("SELECT version FROM ") + versions_table + " WHERE table_name = ?1", table);
    }

    bool table_exists(const std::string& table) {
        return query_int("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                         table) > 0;
    }

    /// The first column of the first row of `sql` run with one text parameter; 0 without a row.
    std::int64_t query_int(const std::string& sql, std::string_view parameter) {
        sqlite3_stmt* s = nullptr;
        check(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), "prepare");
        const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> finalize(s, sqlite3_finalize);
        bind_text(s, 1, parameter);
        return step(s) ? sqlite3_column_int64(s, 0) : 0;
    }

    void close() noexcept {
        for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
        statements_.clear();
        if (db_ != nullptr) sqlite3_close(db_);
        db_ = nullptr;
    }

    sqlite3* db_ = nullptr;
    std::string where_;
    std::chrono::milliseconds busy_timeout_;
    std::vector<std::pair<const std::string*, sqlite3_stmt*>> statements_;
};

backend_capabilities sqlite_capabilities() {
    backend_capabilities caps;
    caps.store_releases_claim = true;
    caps.cheap_entry_count = true;
    caps.cheap_listing = true;
    caps.records_last_use = true;  // in the used_at column
    // Other processes' writes are found by polling; 16 ms keeps a waiter within 20 ms of a store.
    caps.max_poll_interval = std::chrono::milliseconds(16);
    return caps;
}

std::int64_t micros(std::chrono::nanoseconds d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

/// The claim state from the claim columns of a row (`owner_column` and the next one).
claim_state claim_from(sqlite3_stmt* s, int owner_column, std::int64_t now) {
    if (sqlite3_column_type(s, owner_column) == SQLITE_NULL) return claim_state::none;
    return sqlite3_column_int64(s, owner_column + 1) < now ? claim_state::expired : claim_state::live;
}

/// A split read's request: how many bytes go into the entry's value; the rest goes to out.body.
struct split_request {
    std::size_t head_size;
    detail::split_read& out;
};

class sqlite_store final : public backend, public detail::split_reader {
public:
    explicit sqlite_store(sqlite_settings settings)
        : backend("sqlite", sqlite_capabilities()),
          settings_(std::move(settings)),
          open_name_(settings_.path.empty()
                         ? "file:cachier-memory-" + std::to_string(next_memory_id()) + "?mode=memory&cache=shared"
                         : settings_.path),
          sql_(statements_for(settings_.table)),
          pool_([this] { return make_connection(); }, settings_.pool_size, settings_.pool_wait,
                settings_.path.empty() ? "sqlite://:memory:" : "sqlite://" + settings_.path) {
        if (settings_.path.empty()) keeper_ = make_connection();  // keeps the in-memory database alive
    }

protected:
    read_result do_read(const key_ref& ref, std::chrono::nanoseconds) override {
        auto c = pool_.acquire();
        return read_on(*c, ref);
    }

    read_result do_read_or_claim(const key_ref& ref, const claim_request& request) override {
        auto c = pool_.acquire();
        return read_or_claim_on(*c, ref, request);
    }

public:
    void read_split(const key_ref& ref, std::chrono::nanoseconds, std::size_t head_size, const claim_request* claim,
                    detail::split_read& out) override {
        auto c = pool_.acquire();
        split_request split{head_size, out};
        out.found = claim != nullptr ? read_or_claim_on(*c, ref, *claim, &split) : read_on(*c, ref, &split);
    }

protected:
    void do_store(const key_ref& ref, const store_request& request) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = entry_statement(*c, sql_.store, ref);
        const std::int64_t now = now_us();
        c->bind_blob(s, 3, request.value);
        c->bind_int(s, 4, now - micros(request.age));
        c->bind_text(s, 5, request.release != nullptr ? std::string_view(*request.release) : std::string_view());
        if (request.expires_after) c->bind_int(s, 6, now + micros(*request.expires_after));
        else c->bind_null(s, 6);
        c->step(s);
    }

    bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = entry_statement(*c, sql_.claim, ref);
        const std::int64_t now = now_us();
        c->bind_text(s, 3, token);
        c->bind_int(s, 4, now + micros(lease));
        c->bind_int(s, 5, now);
        c->step(s);
        return c->changes() == 1;
    }

    void do_renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = entry_statement(*c, sql_.renew, ref);
        c->bind_text(s, 3, token);
        c->bind_int(s, 4, now_us() + micros(lease));
        c->step(s);
    }

    void do_release_claim(const key_ref& ref, const claim_token& token) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = entry_statement(*c, sql_.release, ref);
        c->bind_text(s, 3, token);
        c->step(s);
        run_on(*c, sql_.drop_empty, ref);
    }

    bool do_remove(const key_ref& ref) override {
        auto c = pool_.acquire();
        run_on(*c, sql_.remove, ref);
        const bool removed = c->changes() == 1;
        run_on(*c, sql_.drop_empty, ref);
        return removed;
    }

    // One transaction for the batch: one commit, whatever its size.
    void do_touch(std::string_view function, std::span<const std::string> keys) override {
        auto c = pool_.acquire();
        const std::int64_t now = now_us();
        c->execute("BEGIN");
        try {
            for (const auto& key : keys) {
                sqlite3_stmt* s = entry_statement(*c, sql_.touch, key_ref{function, key});
                c->bind_int(s, 3, now);
                c->step(s);
            }
            c->execute("COMMIT");
        } catch (...) {
            c->rollback();
            throw;
        }
    }

    void do_clear(std::string_view function) override {
        run_for_function(sql_.clear_unclaimed, function);
        run_for_function(sql_.clear_claimed, function);
    }

    void do_clear_claims(std::string_view function) override {
        run_for_function(sql_.clear_claims, function);
        run_for_function(sql_.drop_empty_of_function, function);
    }

    std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const std::int64_t now = now_us();
        std::size_t removed = 0;
        auto c = pool_.acquire();
        for (const std::string* sql : {&sql_.remove_unclaimed, &sql_.remove_claimed}) {
            sqlite3_stmt* s = c->statement(*sql);
            c->bind_blob(s, 1, function);
            c->bind_int(s, 2, now - micros(max_age));
            c->bind_int(s, 3, now);
            c->step(s);
            removed += static_cast<std::size_t>(c->changes());
        }
        return removed;
    }

    std::uint64_t do_entry_count(std::string_view function) override {
        auto c = pool_.acquire();
        sqlite3_stmt* s = c->statement(sql_.count);
        c->bind_blob(s, 1, function);
        c->bind_int(s, 2, now_us());
        const std::uint64_t n = c->step(s) ? static_cast<std::uint64_t>(sqlite3_column_int64(s, 0)) : 0;
        sqlite3_reset(s);
        return n;
    }

    void do_list_functions(const visitor<function_info>& visit) override {
        std::vector<function_info> functions;  // one row per function: few
        {
            auto c = pool_.acquire();
            sqlite3_stmt* s = c->statement(sql_.functions);
            const std::int64_t now = now_us();
            c->bind_int(s, 1, now);
            while (c->step(s)) {
                function_info f;
                f.name = column_text(s, 0);
                f.entries = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
                f.bytes = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
                f.oldest = std::chrono::microseconds(now - sqlite3_column_int64(s, 3));
                f.newest = std::chrono::microseconds(now - sqlite3_column_int64(s, 4));
                functions.push_back(std::move(f));
            }
            sqlite3_reset(s);
        }
        for (const auto& f : functions)
            if (!visit(f)) return;
    }

    // Pages of entries in key order, each read with the connection returned before it is visited.
    void do_list_entries(std::string_view function, const visitor<entry_info>& visit) override {
        std::string after;
        for (;;) {
            std::vector<entry_info> page;
            {
                auto c = pool_.acquire();
                sqlite3_stmt* s = c->statement(sql_.entries);
                const std::int64_t now = now_us();
                c->bind_blob(s, 1, function);
                c->bind_text(s, 2, after);
                c->bind_int(s, 3, now);
                while (c->step(s)) {
                    entry_info e;
                    e.key = column_text(s, 0);
                    e.has_value = sqlite3_column_int64(s, 1) != 0;
                    e.size = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
                    if (e.has_value) {
                        const std::int64_t stored = sqlite3_column_int64(s, 3);
                        e.age = std::chrono::microseconds(now - stored);
                        const std::int64_t used = std::max<std::int64_t>(stored, sqlite3_column_int64(s, 6));
                        e.since_last_use = std::chrono::microseconds(std::max<std::int64_t>(0, now - used));
                    }
                    e.claim = claim_from(s, 4, now);
                    page.push_back(std::move(e));
                }
                sqlite3_reset(s);
            }
            for (const auto& e : page)
                if ((e.has_value || e.claim != claim_state::none) && !visit(e)) return;
            if (page.size() < listing_page) return;
            after = page.back().key;
        }
    }

private:
    static constexpr std::size_t listing_page = 1000;

    /// From this size up a split read takes a value by its rowid, straight into the result.
    static constexpr std::int64_t split_in_place = 64 * 1024;

    struct statements {
        std::string read, read_split, claim_if_stale, store, claim, renew, release, remove, drop_empty, drop_empty_of_function, clear_unclaimed,
            clear_claimed, clear_claims, remove_unclaimed, remove_claimed, count, functions, entries, touch;
    };

    // Set-based statements, one function at a time; claims decided by one UPSERT each.
    static statements statements_for(const std::string& t) {
        const std::string where = " WHERE function = ?1 AND key = ?2";
        const std::string live = " AND (expires_at IS NULL OR expires_at > ?3)";
        return {
            "SELECT envelope, stored_at, expires_at, claim_owner, claim_expires FROM " + t + where,
            // The value itself only below ?3 bytes; from there its rowid and size.
            "SELECT CASE WHEN length(envelope) < ?3 THEN envelope END, stored_at, expires_at, claim_owner, claim_expires, "
            "CASE WHEN length(envelope) >= ?3 THEN rowid END, length(envelope) FROM " + t + where,
            "INSERT INTO " + t + " (function, key, claim_owner, claim_expires) VALUES (?1, ?2, ?3, ?4) "
            "ON CONFLICT (function, key) DO UPDATE SET claim_owner = excluded.claim_owner, "
            "claim_expires = excluded.claim_expires "
            "WHERE (claim_owner IS NULL OR claim_expires < ?5 OR claim_owner = excluded.claim_owner) "
            "AND (envelope IS NULL OR stored_at < ?6 OR expires_at <= ?5)",
            "INSERT INTO " + t + " (function, key, envelope, stored_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?6) "
            "ON CONFLICT (function, key) DO UPDATE SET envelope = excluded.envelope, stored_at = excluded.stored_at, "
            "expires_at = excluded.expires_at, "
            "claim_owner = CASE WHEN claim_owner = ?5 THEN NULL ELSE claim_owner END, "
            "claim_expires = CASE WHEN claim_owner = ?5 THEN NULL ELSE claim_expires END",
            "INSERT INTO " + t + " (function, key, claim_owner, claim_expires) VALUES (?1, ?2, ?3, ?4) "
            "ON CONFLICT (function, key) DO UPDATE SET claim_owner = excluded.claim_owner, "
            "claim_expires = excluded.claim_expires "
            "WHERE claim_owner IS NULL OR claim_expires < ?5 OR claim_owner = excluded.claim_owner",
            "UPDATE " + t + " SET claim_expires = ?4" + where + " AND claim_owner = ?3",
            "UPDATE " + t + " SET claim_owner = NULL, claim_expires = NULL" + where + " AND claim_owner = ?3",
            "UPDATE " + t + " SET envelope = NULL, stored_at = NULL, expires_at = NULL" + where + " AND envelope IS NOT NULL",
            "DELETE FROM " + t + where + " AND envelope IS NULL AND claim_owner IS NULL",
            "DELETE FROM " + t + " WHERE function = ?1 AND envelope IS NULL AND claim_owner IS NULL",
            "DELETE FROM " + t + " WHERE function = ?1 AND claim_owner IS NULL",
            "UPDATE " + t + " SET envelope = NULL, stored_at = NULL, expires_at = NULL WHERE function = ?1",
            "UPDATE " + t + " SET claim_owner = NULL, claim_expires = NULL WHERE function = ?1",
            "DELETE FROM " + t + " WHERE function = ?1 AND claim_owner IS NULL AND (stored_at < ?2 OR expires_at <= ?3)",
            "UPDATE " + t + " SET envelope = NULL, stored_at = NULL, expires_at = NULL WHERE function = ?1 AND "
            "envelope IS NOT NULL AND (stored_at < ?2 OR expires_at <= ?3)",
            "SELECT count(*) FROM " + t + " WHERE function = ?1 AND envelope IS NOT NULL AND "
            "(expires_at IS NULL OR expires_at > ?2)",
            "SELECT function, count(*), sum(length(envelope)), min(stored_at), max(stored_at) FROM " + t +
                " WHERE envelope IS NOT NULL AND (expires_at IS NULL OR expires_at > ?1) GROUP BY function",
            "SELECT key, envelope IS NOT NULL" + live + ", coalesce(length(envelope), 0), stored_at, claim_owner, "
            "claim_expires, coalesce(used_at, 0) FROM " + t + " WHERE function = ?1 AND key > ?2 ORDER BY key LIMIT " +
                std::to_string(listing_page),
            "UPDATE " + t + " SET used_at = ?3" + where + " AND envelope IS NOT NULL",
        };
    }

    /// `sql` prepared on `c`, with the entry's function and key bound to ?1 and ?2.
    static sqlite3_stmt* entry_statement(sqlite_connection& c, const std::string& sql, const key_ref& ref) {
        sqlite3_stmt* s = c.statement(sql);
        c.bind_blob(s, 1, ref.function);
        c.bind_text(s, 2, ref.key);
        return s;
    }

    /// The row of one entry: its value (unless expired), age and claim. With `split`, a value of at
    /// least split->head_size bytes comes in two parts (split_reader.hpp).
    read_result read_on(sqlite_connection& c, const key_ref& ref, split_request* split = nullptr) {
        // A split read takes values from split_in_place bytes up by their rowid (read_blob), not
        // through the column.
        sqlite3_stmt* s = entry_statement(c, split != nullptr ? sql_.read_split : sql_.read, ref);
        if (split != nullptr) c.bind_int(s, 3, split_in_place);
        read_result out;
        if (!c.step(s)) return out;
        const std::int64_t now = now_us();
        const bool expired = sqlite3_column_type(s, 2) != SQLITE_NULL && sqlite3_column_int64(s, 2) <= now;
        const bool in_place = split != nullptr && sqlite3_column_type(s, 5) != SQLITE_NULL;
        if ((in_place || sqlite3_column_type(s, 0) != SQLITE_NULL) && !expired) {
            const auto age = std::chrono::microseconds(now - sqlite3_column_int64(s, 1));
            if (in_place) {
                const auto size = static_cast<std::size_t>(sqlite3_column_int64(s, 6));
                if (size <= detail::read_limit() && size >= split->head_size) {
                    std::string head(split->head_size, '\0');
                    split->out.body = std::string(size - split->head_size, '\0');  // becomes the caller's result
                    c.read_blob(settings_.table, "envelope", sqlite3_column_int64(s, 5),
                                {{0, std::span(head)}, {split->head_size, std::span(split->out.body)}});
                    out.entry = stored_entry{std::move(head), age};
                    split->out.split = true;
                } else {
                    sqlite3_reset(s);
                    return read_on(c, ref);  // read whole: the engine refuses it when over read_size_limit
                }
            } else {
                const auto* bytes = static_cast<const char*>(sqlite3_column_blob(s, 0));
                const std::string_view value(bytes == nullptr ? "" : bytes,
                                             static_cast<std::size_t>(sqlite3_column_bytes(s, 0)));
                if (split != nullptr && value.size() >= split->head_size) {
                    out.entry = stored_entry{std::string(value.substr(0, split->head_size)), age};
                    split->out.body.assign(value.substr(split->head_size));
                    split->out.split = true;
                } else {
                    out.entry = stored_entry{std::string(value), age};
                }
            }
        }
        out.claim = claim_from(s, 3, now);
        sqlite3_reset(s);
        return out;
    }

    // A claim taken only when the value is missing or stale (one UPSERT), then the row as it is.
    read_result read_or_claim_on(sqlite_connection& c, const key_ref& ref, const claim_request& request,
                                 split_request* split = nullptr) {
        sqlite3_stmt* s = entry_statement(c, sql_.claim_if_stale, ref);
        const std::int64_t now = now_us();
        c.bind_text(s, 3, request.token);
        c.bind_int(s, 4, now + micros(request.lease));
        c.bind_int(s, 5, now);
        c.bind_int(s, 6, now - micros(request.max_age));
        c.step(s);
        const bool claimed = c.changes() == 1;
        read_result out = read_on(c, ref, split);
        if (claimed) {
            out.claimed = true;
            out.claim = claim_state::none;
        }
        return out;
    }

    /// A text or blob column's bytes as they are (a function name may hold any byte).
    static std::string column_text(sqlite3_stmt* s, int column) {
        const auto* bytes = static_cast<const char*>(sqlite3_column_blob(s, column));
        return std::string(bytes == nullptr ? "" : bytes, static_cast<std::size_t>(sqlite3_column_bytes(s, column)));
    }

    static void run_on(sqlite_connection& c, const std::string& sql, const key_ref& ref) {
        sqlite3_stmt* s = entry_statement(c, sql, ref);
        c.step(s);
    }

    void run_for_function(const std::string& sql, std::string_view function) {
        auto c = pool_.acquire();
        sqlite3_stmt* s = c->statement(sql);
        c->bind_blob(s, 1, function);
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
    on_fork_child fork_{[this] { renew_lock(schema_mutex_); }};
};

}  // namespace

std::shared_ptr<backend> make_sqlite_backend(const sql_options& options) {
    return std::make_shared<sqlite_store>(settings_from(options));
}

}  // namespace cachier::detail::sql
