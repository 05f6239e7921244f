// What only the SQLite backend must do, against SQLite database files.

#include <sqlite3.h>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/test_server.hpp"
#include "../support/test_support.hpp"
#include "sql_test_support.hpp"

using namespace std::chrono_literals;
using namespace cachier::test::sql;
using cachier::test::postgres_server;
using cachier::test::scratch_dir;

TEST(SqliteUrl, ErrorsNameThePart) {
    EXPECT_EQ(url_error_part("sqlite://relative/path.db"), "path");
    EXPECT_EQ(url_error_part("sqlite:///tmp/x.db?table=bad-name"), "table");
    EXPECT_EQ(url_error_part("sqlite:///tmp/x.db?table=1abc"), "table");
    EXPECT_EQ(url_error_part("sqlite:///tmp/x.db?colour=blue"), "query");
    EXPECT_EQ(url_error_part("sqlite:///tmp/x.db?busy_timeout=later"), "busy_timeout");
}

TEST(SqliteBackend, SixProcessesRacingOnAColdKeyComputeItOnce) {
    scratch_dir scratch;
    race_six_processes("sqlite://" + (scratch.path() / "race.db").string(), scratch.path() / "calls.log");
}

TEST(SqliteBackend, ConcurrentFirstUseCreatesTheSchemaOnce) {
    scratch_dir scratch;
    first_use_from_six_processes("sqlite://" + (scratch.path() / "fresh.db").string(), scratch.path() / "calls.log");
}

TEST(SqliteBackend, TableOfANewerSchemaIsReportedAndCallsStillWork) {
    scratch_dir scratch;
    const auto db = scratch.path() / "newer.db";
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw,
                           "CREATE TABLE cachier_schema_versions (table_name TEXT PRIMARY KEY, version INTEGER NOT NULL);"
                           "INSERT INTO cachier_schema_versions VALUES ('cachier_cache', 99);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(raw);
    cachier::test::log_capture logs;
    auto f = cachier::cachier("sql.newer", [](int x) { return x; }, on("sqlite://" + db.string()));
    EXPECT_EQ(f(5), 5);
    EXPECT_TRUE(logs.contains("newer cachier", cachier::log_level::warning));
}

TEST(SqliteBackend, TableMadeBeforeLastUseTimesGainsTheColumnAndKeepsItsValues) {
    scratch_dir scratch;
    const auto db = scratch.path() / "earlier.db";
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw,
                           "CREATE TABLE cachier_schema_versions (table_name TEXT PRIMARY KEY, version INTEGER NOT NULL);"
                           "INSERT INTO cachier_schema_versions VALUES ('cachier_cache', 2);"
                           "CREATE TABLE cachier_cache (function BLOB NOT NULL, key TEXT NOT NULL, envelope BLOB, "
                           "stored_at INTEGER, claim_owner TEXT, claim_expires INTEGER, expires_at INTEGER, "
                           "PRIMARY KEY (function, key)) WITHOUT ROWID;"
                           "INSERT INTO cachier_cache (function, key, envelope, stored_at) VALUES "
                           "(CAST('f' AS BLOB), 'k', x'00', 1);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(raw);
    auto store = cachier::backend_from_url("sqlite://" + db.string());
    EXPECT_EQ(store->entry_count("f"), 1U) << "the earlier table's value was lost";
    const std::vector<std::string> keys{"k"};
    store->touch("f", keys);
    std::optional<std::chrono::nanoseconds> idle;
    store->list_entries("f", [&](const cachier::entry_info& e) {
        idle = e.since_last_use;
        return true;
    });
    ASSERT_TRUE(idle.has_value());
    EXPECT_LT(*idle, 10s) << "the use was not recorded";
}

// Tables of earlier releases are WITHOUT ROWID tables, whose lookups read a large value whole to
// compare its key: the first backend of this release moves them to the current layout, values kept.
TEST(SqliteBackend, TableOfTheEarlierLayoutIsMovedToTheCurrentOneWithItsValues) {
    scratch_dir scratch;
    const auto db = scratch.path() / "layout.db";
    const std::string url = "sqlite://" + db.string();
    int computed = 0;
    auto text = [&](int n) {
        ++computed;
        return std::string(static_cast<std::size_t>(n), 'x');
    };
    {
        auto f = cachier::cachier("sql.layout", text, on(url));
        EXPECT_EQ(f(200'000).size(), 200'000U);
        EXPECT_EQ(f(10).size(), 10U);
    }
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    const std::string columns = "function, key, envelope, stored_at, claim_owner, claim_expires, expires_at, used_at";
    ASSERT_EQ(sqlite3_exec(raw,
                           ("CREATE TABLE earlier (function BLOB NOT NULL, key TEXT NOT NULL, envelope BLOB, "
                            "stored_at INTEGER, claim_owner TEXT, claim_expires INTEGER, expires_at INTEGER, used_at INTEGER, "
                            "PRIMARY KEY (function, key)) WITHOUT ROWID;"
                            "INSERT INTO earlier (" + columns + ") SELECT " + columns + " FROM cachier_cache;"
                            "DROP TABLE cachier_cache; ALTER TABLE earlier RENAME TO cachier_cache;")
                               .c_str(),
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(raw);
    auto g = cachier::cachier("sql.layout", text, on(url));
    EXPECT_EQ(g(200'000), std::string(200'000, 'x'));
    EXPECT_EQ(g(10), std::string(10, 'x'));
    EXPECT_EQ(computed, 2) << "a value of the earlier table was lost";
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT sql FROM sqlite_schema WHERE name = 'cachier_cache'", -1, &s, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    const std::string sql = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(raw);
    EXPECT_EQ(sql.find("WITHOUT ROWID"), std::string::npos) << sql;
}

TEST(SqliteBackend, UnwritableDatabaseStillReturnsResults) {
    scratch_dir scratch;
    cachier::test::log_capture logs;
    auto f = cachier::cachier("sql.unwritable", [](int x) { return x * 2; },
                              on("sqlite://" + (scratch.path() / "no-such-dir" / "x.db").string()));
    EXPECT_EQ(f(4), 8);
    EXPECT_GT(f.metrics().backend_errors, 0U);
    EXPECT_FALSE(logs.messages(cachier::log_level::warning).empty());
}

