// What only the MongoDB backend must do, against the project's MongoDB test server (a wire-protocol
// server over mongomock, scripts/mongo_server.py).

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/stopped_server.hpp"
#include "../support/test_server.hpp"
#include "../support/test_support.hpp"
#include "backends/mongo/mongo_settings.hpp"
#include "sql_test_support.hpp"

using namespace std::chrono_literals;
using cachier::test::mongo_server;

namespace {

std::string unique_collection() {
    static int n = 0;
    return "c" + std::to_string(::getpid()) + "_" + std::to_string(n++);
}

std::string with_collection(const std::string& url, const std::string& extra = "") {
    return url + "/cachier_test?collection=" + unique_collection() + extra;
}

cachier::options on(const std::string& url) {
    cachier::options o;
    o.backend = cachier::backend_from_url(url);
    o.enable_metrics = true;
    return o;
}

std::string url_error_part(const std::string& url) {
    try {
        (void)cachier::mongo_backend(url, "cachier");
    } catch (const cachier::url_error& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
        return e.part();
    }
    return "no error";
}

}  // namespace

TEST(MongoUrl, CollectionIsCachiersOptionAndTheRestGoesToTheDriver) {
    const auto s = cachier::detail::mongo::settings_from_url(
        cachier::detail::parse_url("mongodb://app:hunter2%2Fx@h1:27017/appdb?collection=memo&serverSelectionTimeoutMS=500"),
        "cachier");
    EXPECT_EQ(s.database, "appdb");
    EXPECT_EQ(s.collection, "memo");
    EXPECT_EQ(s.uri, "mongodb://app:hunter2%2Fx@h1:27017/appdb?serverSelectionTimeoutMS=500");
    EXPECT_EQ(s.description.find("hunter2"), std::string::npos) << s.description;
    const auto defaults = cachier::detail::mongo::settings_from_url(cachier::detail::parse_url("mongodb://h"), "given");
    EXPECT_EQ(defaults.database, "cachier");
    EXPECT_EQ(defaults.collection, "given");
}

TEST(MongoUrl, ErrorsNameThePartAndHideThePassword) {
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@/db"), "host");
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@h/db?collection="), "collection");
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@h/db?collection=system.x"), "collection");
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@h/a.b"), "path");
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@h/db?w=banana&ssl=maybe"), "query");
}

TEST(MongoBackend, SixProcessesRacingOnAColdKeyComputeItOnce) {
    mongo_server server;
    cachier::test::scratch_dir scratch;
    cachier::test::sql::race_six_processes(with_collection(server.url()), scratch.path() / "calls.log");
}

TEST(MongoBackend, ServerRestartedMidRunLosesNoCall) {
    cachier::test::log_capture logs;
    mongo_server server;
    auto f = cachier::cachier("mongo.restart", [](int x) { return x * 7; },
                              on(with_collection(server.url(), "&serverSelectionTimeoutMS=300&connectTimeoutMS=300")));
    const auto [calls, wrong] = cachier::test::call_through(f, [&] {
        std::this_thread::sleep_for(300ms);
        server.stop();
        std::this_thread::sleep_for(400ms);
        server.start();  // empty: every value is computed again
        std::this_thread::sleep_for(1200ms);
    });
    EXPECT_EQ(wrong, 0);
    EXPECT_GT(calls, 20);
    EXPECT_GT(f.metrics().backend_errors, 0U) << "the outage was not reported";
    EXPECT_FALSE(logs.messages(cachier::log_level::warning).empty());
    EXPECT_TRUE(cachier::test::eventually(
        [&] {
            const auto hits = f.metrics().hits;
            return f(1000) == 7000 && f(1000) == 7000 && f.metrics().hits > hits;
        },
        5s))
        << "did not reconnect by itself";
}

TEST(MongoBackend, ValueOverTheDocumentLimitIsReportedAndReturned) {
    mongo_server server;
    cachier::test::log_capture logs;
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        "mongo.big",
        [&](int x) {
            ++calls;
            return std::string(17 * 1024 * 1024, static_cast<char>('a' + x));
        },
        on(with_collection(server.url())));
    EXPECT_EQ(f(1).size(), 17U * 1024 * 1024);
    EXPECT_EQ(f(1).size(), 17U * 1024 * 1024);
    EXPECT_EQ(calls, 2) << "a value over 16 MiB cannot be stored, and is computed each time";
    EXPECT_GE(f.metrics().backend_errors, 2U);
    EXPECT_FALSE(logs.messages(cachier::log_level::warning).empty());
    auto small = cachier::cachier("mongo.big_small", [](int x) { return x; }, on(with_collection(server.url())));
    EXPECT_EQ(small(3), 3);
    EXPECT_EQ(small(3), 3);
    EXPECT_EQ(small.metrics().hits, 1U) << "small values are still stored";
}

TEST(MongoBackend, StoppedServerHoldsACallAtMostItsCommandTimeout) {
    mongo_server server;
    auto f = cachier::cachier(
        "mongo.stopped", [](std::int64_t x) { return x * 3; },
        on(with_collection(server.url(), "&socketTimeoutMS=300&connectTimeoutMS=300&serverSelectionTimeoutMS=300")));
    cachier::test::expect_stopped_server_costs_at_most(f, server, 300ms + 200ms, 600ms + 200ms);
    EXPECT_TRUE(cachier::test::eventually([&] { return f(7) == 21 && f.metrics().hits > 0; }, 10s));
}
