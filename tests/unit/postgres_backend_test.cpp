// What only the PostgreSQL backend must do, against a real PostgreSQL server.

#include <atomic>
#include <future>
#include <thread>

#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/stopped_server.hpp"
#include "../support/test_server.hpp"
#include "../support/test_support.hpp"
#include "sql_test_support.hpp"

using namespace std::chrono_literals;
using namespace cachier::test::sql;
using cachier::test::postgres_server;
using cachier::test::scratch_dir;

TEST(PostgresUrl, ErrorsNameThePartAndHideThePassword) {
    EXPECT_EQ(url_error_part("postgresql://u:hunter2@127.0.0.1:99999/db"), "port");
    EXPECT_EQ(url_error_part("postgresql://u:hunter2@127.0.0.1/db?table=x;drop"), "table");
    EXPECT_EQ(url_error_part("postgresql://u:hunter2@127.0.0.1/db?no_such_libpq_option=1"), "query");
    EXPECT_EQ(url_error_part("postgresql://u:hunter2@127.0.0.1/db?pool_size=0"), "pool_size");
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

// A miss with its store is two statements on the server (read-or-claim, then store-and-release),
// counted by pg_stat_statements; a hit is one.
TEST(PostgresBackend, MissWithItsStoreIsTwoStatementsOnTheServer) {
    postgres_server server;
    const std::string url = with_table(server.url(), unique_table());
    PGconn* admin = PQconnectdb(server.url().c_str());
    ASSERT_EQ(PQstatus(admin), CONNECTION_OK);
    auto sql = [&](const std::string& statement) {
        PGresult* r = PQexec(admin, statement.c_str());
        const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
        std::string first = ok && PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "";
        EXPECT_TRUE(ok) << statement << ": " << PQresultErrorMessage(r);
        PQclear(r);
        return first;
    };
    sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    auto f = cachier::cachier("sql.round_trips", [](int x) { return x * 3; }, on(url));
    ASSERT_EQ(f(0), 0);  // connects, creates the schema and prepares the statements
    ASSERT_EQ(f(0), 0);
    const std::string counted =
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database "
        "WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'";
    sql("SELECT pg_stat_statements_reset()");
    EXPECT_EQ(f(1), 3);
    EXPECT_EQ(sql(counted), "2") << "a miss with its store";
    sql("SELECT pg_stat_statements_reset()");
    EXPECT_EQ(f(1), 3);
    EXPECT_EQ(sql(counted), "1") << "a hit";
    EXPECT_EQ(f.metrics().backend_errors, 0U);
    PQfinish(admin);
}


TEST(PostgresBackend, StoppedServerHoldsACallAtMostItsCommandTimeout) {
    postgres_server server;
    // 300 ms to answer; libpq's shortest connect timeout is 2 s.
    cachier::options o;
    o.backend = cachier::sql_backend(with_table(server.url(), unique_table()) + "&command_timeout=300ms");
    o.enable_metrics = true;
    auto f = cachier::cachier("sql.stopped", [](std::int64_t x) { return x * 3; }, o);
    cachier::test::expect_stopped_server_costs_at_most(f, server, 300ms + 200ms, 2300ms + 300ms);
    EXPECT_TRUE(cachier::test::eventually([&] { return f(7) == 21 && f.metrics().hits > 0; }, 10s));
}
