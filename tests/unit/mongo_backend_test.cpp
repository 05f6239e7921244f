// What only the MongoDB backend must do, against the project's MongoDB test server (a wire-protocol
// server over mongomock, scripts/mongo_server.py).

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <mongoc/mongoc.h>

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

/// The documents of a collection, counted with libmongoc itself (the backend's own counts leave
/// out what has expired).
std::int64_t raw_document_count(const std::string& server_url, const std::string& collection) {
    mongoc_client_t* client = mongoc_client_new(server_url.c_str());
    mongoc_collection_t* c = mongoc_client_get_collection(client, "cachier_test", collection.c_str());
    bson_t filter;
    bson_init(&filter);
    bson_error_t error;
    const std::int64_t n = mongoc_collection_count_documents(c, &filter, nullptr, nullptr, nullptr, &error);
    bson_destroy(&filter);
    mongoc_collection_destroy(c);
    mongoc_client_destroy(client);
    return n;
}

cachier::store_request value_of(std::string_view value, std::optional<std::chrono::nanoseconds> expires_after = {},
                                const cachier::claim_token* release = nullptr) {
    cachier::store_request request;
    request.value = value;
    request.expires_after = expires_after;
    request.release = release;
    return request;
}

/// Records the change events a backend reports.
class recorded_changes : public cachier::change_sink {
public:
    void on_change(const cachier::change_event& e) noexcept override {
        const std::lock_guard lock(mutex_);
        seen_.push_back({std::string(e.function), std::string(e.key), e.kind});
    }
    [[nodiscard]] bool saw(const std::string& function, const std::string& key, cachier::change_kind kind) const {
        const std::lock_guard lock(mutex_);
        for (const auto& s : seen_)
            if (s.function == function && s.key == key && s.kind == kind) return true;
        return false;
    }
    void forget() {
        const std::lock_guard lock(mutex_);
        seen_.clear();
    }

private:
    struct seen {
        std::string function;
        std::string key;
        cachier::change_kind kind;
    };
    mutable std::mutex mutex_;
    std::vector<seen> seen_;
};

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

TEST(MongoUrl, TtlIndexIsCachiersFlagAndReplicaSetsExpectChangeStreams) {
    using cachier::detail::mongo::settings_from_url;
    using cachier::detail::parse_url;
    const auto ttl = settings_from_url(parse_url("mongodb://h/db?ttl_index=true&replicaset=rs0&w=1"), "c");
    EXPECT_TRUE(ttl.ttl_index);
    EXPECT_TRUE(ttl.replica_set_named) << "libmongoc's option names are case-insensitive";
    EXPECT_EQ(ttl.uri, "mongodb://h/db?replicaset=rs0&w=1");
    const auto plain = settings_from_url(parse_url("mongodb://h/db?ttl_index=0"), "c");
    EXPECT_FALSE(plain.ttl_index);
    EXPECT_FALSE(plain.replica_set_named);
    EXPECT_TRUE(settings_from_url(parse_url("mongodb+srv://cluster.example/db"), "c").replica_set_named);
    EXPECT_TRUE(cachier::mongo_backend("mongodb://h/db?replicaSet=rs0", "c")->capabilities().pushes_changes);
    EXPECT_TRUE(cachier::mongo_backend("mongodb://h/db?ttl_index=true", "c")->capabilities().native_expiry);
    EXPECT_FALSE(cachier::mongo_backend("mongodb://h/db", "c")->capabilities().pushes_changes);
}

TEST(MongoUrl, ErrorsNameThePartAndHideThePassword) {
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@/db"), "host");
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@h/db?collection="), "collection");
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@h/db?collection=system.x"), "collection");
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@h/a.b"), "path");
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@h/db?w=banana&ssl=maybe"), "query");
    EXPECT_EQ(url_error_part("mongodb://u:hunter2@h/db?ttl_index=yes"), "query");
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
    cachier::test::expect_outage_survived(f, {calls, wrong}, logs.messages(cachier::log_level::warning));
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

TEST(MongoBackend, ServerDownAtStartIsReportedAndJoinedWhenItComesUp) {
    cachier::test::log_capture logs;
    mongo_server server;
    server.stop();
    auto f = cachier::cachier("mongo.down_at_start", [](int x) { return x * 5; },
                              on(with_collection(server.url(), "&serverSelectionTimeoutMS=300&connectTimeoutMS=300")));
    for (int i = 0; i < 4; ++i) EXPECT_EQ(f(i), i * 5);
    EXPECT_GE(f.metrics().backend_errors, 4U) << "each call found the server down";
    EXPECT_FALSE(logs.messages(cachier::log_level::warning).empty());
    server.start();
    EXPECT_TRUE(cachier::test::eventually(
        [&] {
            const auto hits = f.metrics().hits;
            return f(1000) == 5000 && f(1000) == 5000 && f.metrics().hits > hits;
        },
        5s))
        << "did not connect by itself once the server came up";
}

TEST(MongoBackend, ReplicaSetReportsOtherProcessesChangesThroughAChangeStream) {
    cachier::test::log_capture logs;
    mongo_server server("--replica-set rs0");
    const std::string url = with_collection(server.url(), "&replicaSet=rs0");
    auto watching = cachier::backend_from_url(url);
    auto changes = std::make_shared<recorded_changes>();
    watching->add_change_sink(changes);
    watching->watch("f");
    EXPECT_TRUE(logs.contains("change stream", cachier::log_level::debug));

    auto other = cachier::backend_from_url(url);  // another process's backend: its changes come from the server
    const cachier::claim_token token = "other";
    const cachier::key_ref ref{"f", "k1"};
    ASSERT_TRUE(other->try_claim(ref, token, 10s));
    other->store(ref, value_of("value", {}, &token));
    EXPECT_TRUE(cachier::test::eventually([&] { return changes->saw("f", "k1", cachier::change_kind::stored); }, 3s));

    changes->forget();
    ASSERT_TRUE(other->try_claim({"f", "k2"}, token, 10s));
    other->release_claim({"f", "k2"}, token);  // a failed computation: its claim document goes
    EXPECT_TRUE(cachier::test::eventually([&] { return changes->saw("f", "", cachier::change_kind::removed); }, 3s))
        << "a deleted document names no entry: every watched function hears of it";
    EXPECT_FALSE(changes->saw("f", "k2", cachier::change_kind::stored)) << "taking a claim is no store";

    server.stop();
    server.start();  // the stream breaks; the listener opens it again by itself
    changes->forget();
    EXPECT_TRUE(cachier::test::eventually(
        [&] {
            try {
                other->store({"f", "k3"}, value_of("again"));
            } catch (const cachier::backend_error&) {
                return false;  // the other backend is reconnecting too
            }
            return cachier::test::eventually([&] { return changes->saw("f", "k3", cachier::change_kind::stored); }, 500ms);
        },
        10s))
        << "the change stream did not come back after a server restart";
}

TEST(MongoBackend, StandaloneServerSaysItsWaitersPoll) {
    cachier::test::log_capture logs;
    mongo_server server;
    auto store = cachier::backend_from_url(with_collection(server.url()));
    store->watch("f");
    EXPECT_TRUE(logs.contains("waiters poll", cachier::log_level::debug));
}

TEST(MongoBackend, TtlIndexLetsTheServerDropExpiredEntriesButNeverAClaimedOne) {
    mongo_server server("--ttl-monitor 0.2");
    const std::string with_ttl = unique_collection();
    const std::string without_ttl = unique_collection();
    auto expiring = cachier::backend_from_url(server.url() + "/cachier_test?ttl_index=true&collection=" + with_ttl);
    auto keeping = cachier::backend_from_url(server.url() + "/cachier_test?collection=" + without_ttl);
    const cachier::claim_token token = "mine";
    for (const auto& store : {expiring, keeping}) {
        store->store({"f", "expires"}, value_of("v", 100ms));
        store->store({"f", "stays"}, value_of("v"));
        store->store({"f", "claimed"}, value_of("v", 100ms));
        ASSERT_TRUE(store->try_claim({"f", "claimed"}, token, 30s));
    }
    EXPECT_TRUE(cachier::test::eventually([&] { return raw_document_count(server.url(), with_ttl) == 2; }, 5s))
        << "the TTL monitor drops the expired, unclaimed entry";
    std::this_thread::sleep_for(600ms);  // three more passes of the monitor
    EXPECT_EQ(raw_document_count(server.url(), with_ttl), 2) << "a claimed entry or one without expiry stays";
    EXPECT_EQ(raw_document_count(server.url(), without_ttl), 3) << "without ttl_index the server drops nothing";
    EXPECT_FALSE(expiring->read({"f", "expires"}, std::chrono::hours(1)).entry);
    EXPECT_FALSE(keeping->read({"f", "expires"}, std::chrono::hours(1)).entry) << "reads honour the expiry either way";
}
