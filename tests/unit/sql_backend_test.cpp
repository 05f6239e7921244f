// What only the SQL backends must do, against SQLite files and a real PostgreSQL server.

#include <atomic>
#include <future>
#include <thread>

#include <sqlite3.h>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/test_server.hpp"
#include "../support/test_support.hpp"

using namespace std::chrono_literals;
using cachier::test::postgres_server;
using cachier::test::scratch_dir;
using cachier::test::worker_process;

namespace {

cachier::options on(const std::string& url) {
    cachier::options o;
    o.backend = cachier::sql_backend(url);
    o.enable_metrics = true;
    return o;
}

std::string with_table(const std::string& url, const std::string& table) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "table=" + table;
}

std::string unique_table() {
    static int n = 0;
    return "t" + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

std::string url_error_part(const std::string& url) {
    try {
        (void)cachier::sql_backend(url);
    } catch (const cachier::url_error& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
        return e.part();
    }
    return "no error";
}

int count_computed(const std::filesystem::path& log) {
    const auto lines = cachier::test::read_lines(log);
    return static_cast<int>(
        std::count_if(lines.begin(), lines.end(), [](const auto& l) { return l.rfind("computed", 0) == 0; }));
}

void race_six_processes(const std::string& url, const std::filesystem::path& log) {
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < 6; ++i)
        workers.push_back(std::make_unique<worker_process>(
            std::vector<std::string>{"compute", url, "sql.race", "9", "300", log.string()}));
    for (auto& w : workers) EXPECT_EQ(w->wait(), 0);
    EXPECT_EQ(count_computed(log), 1);
}

// Six processes make their first call at once on a table nobody created yet.
void first_use_from_six_processes(const std::string& url, const std::filesystem::path& log) {
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < 6; ++i)
        workers.push_back(std::make_unique<worker_process>(
            std::vector<std::string>{"compute", url, "sql.first_use", std::to_string(i), "0", log.string()}));
    for (auto& w : workers) EXPECT_EQ(w->wait(), 0) << "a process failed while the schema was being created";
    EXPECT_EQ(count_computed(log), 6);
}

}  // namespace

TEST(SqlUrl, ErrorsNameThePartAndHideThePassword) {
    EXPECT_EQ(url_error_part("sqlite://relative/path.db"), "path");
    EXPECT_EQ(url_error_part("sqlite:///tmp/x.db?table=bad-name"), "table");
    EXPECT_EQ(url_error_part("sqlite:///tmp/x.db?table=1abc"), "table");
    EXPECT_EQ(url_error_part("sqlite:///tmp/x.db?colour=blue"), "query");
    EXPECT_EQ(url_error_part("sqlite:///tmp/x.db?busy_timeout=later"), "busy_timeout");
    EXPECT_EQ(url_error_part("postgresql://u:hunter2@127.0.0.1:99999/db"), "port");
    EXPECT_EQ(url_error_part("postgresql://u:hunter2@127.0.0.1/db?table=x;drop"), "table");
    EXPECT_EQ(url_error_part("postgresql://u:hunter2@127.0.0.1/db?no_such_libpq_option=1"), "query");
    EXPECT_EQ(url_error_part("postgresql://u:hunter2@127.0.0.1/db?pool_size=0"), "pool_size");
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

TEST(SqliteBackend, UnwritableDatabaseStillReturnsResults) {
    scratch_dir scratch;
    cachier::test::log_capture logs;
    auto f = cachier::cachier("sql.unwritable", [](int x) { return x * 2; },
                              on("sqlite://" + (scratch.path() / "no-such-dir" / "x.db").string()));
    EXPECT_EQ(f(4), 8);
    EXPECT_GT(f.metrics().backend_errors, 0U);
    EXPECT_FALSE(logs.messages(cachier::log_level::warning).empty());
}

TEST(PostgresBackend, SixProcessesRacingOnAColdKeyComputeItOnce) {
    postgres_server server;
    scratch_dir scratch;
    race_six_processes(with_table(server.url(), unique_table()), scratch.path() / "calls.log");
}

TEST(PostgresBackend, ConcurrentFirstUseCreatesTheSchemaOnce) {
    postgres_server server;
    scratch_dir scratch;
    first_use_from_six_processes(with_table(server.url(), unique_table()), scratch.path() / "calls.log");
}

TEST(PostgresBackend, StoppedAndRestartedMidRunLosesNoCall) {
    cachier::test::log_capture logs;
    postgres_server server;
    auto f = cachier::cachier("sql.restart", [](int x) { return x * 7; }, on(with_table(server.url(), unique_table())));
    const auto [calls, wrong] = cachier::test::call_through(f, [&] {
        std::this_thread::sleep_for(300ms);
        server.stop();
        std::this_thread::sleep_for(400ms);
        server.start();  // the same data directory and port
        std::this_thread::sleep_for(800ms);
    });
    EXPECT_EQ(wrong, 0);
    EXPECT_GT(calls, 100);
    EXPECT_GT(f.metrics().backend_errors, 0U) << "the outage was not reported";
    EXPECT_FALSE(logs.messages(cachier::log_level::warning).empty());
    const auto hits_before = f.metrics().hits;
    EXPECT_EQ(f(1000), 7000);
    EXPECT_EQ(f(1000), 7000);
    EXPECT_EQ(f.metrics().hits, hits_before + 1) << "did not reconnect by itself";
}

TEST(PostgresBackend, ServerDownAtStartThenUp) {
    postgres_server server;
    const std::string url = with_table(server.url(), unique_table());
    server.stop();
    cachier::test::log_capture logs;
    auto f = cachier::cachier("sql.down_at_start", [](int x) { return x + 1; }, on(url));
    EXPECT_EQ(f(1), 2);
    EXPECT_GT(f.metrics().backend_errors, 0U);
    server.start();
    ASSERT_TRUE(cachier::test::eventually(
        [&] {
            f(2);
            return f.metrics().hits > 0;
        },
        10s))
        << "did not reconnect";
}

TEST(PostgresBackend, PasswordsNeverAppearInMessages) {
    cachier::test::log_capture logs;
    auto f = cachier::cachier("sql.password", [](int x) { return x; },
                              on("postgresql://someone:hunter2@127.0.0.1:1/nothing?table=t&connect_timeout=1"));
    EXPECT_EQ(f(1), 1);
    EXPECT_GT(f.metrics().backend_errors, 0U);
    for (const auto& message : logs.messages(cachier::log_level::debug))
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}
