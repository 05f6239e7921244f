// MongoDB backend benchmarks (need CACHIER_BENCH_MONGO_URL, and CACHIER_BENCH_MONGO_LOG for the
// waiter's request count: the commands.log of scripts/mongo-server.sh; CACHIER_BENCH_MONGO_RS_URL
// and CACHIER_BENCH_MONGO_RS_LOG, a server started with --replica-set rs0, for the waiter that
// hears of the value through a change stream; scripts/bench.sh sets all four).
// Run: build/default/bench/cachier_bench_mongo (Release), or every program with scripts/bench.sh.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <mongoc/mongoc.h>
#include <unistd.h>

#include <cachier/cachier.hpp>

#include "bench_support.hpp"

namespace {

using namespace cachier::bench;

const char* bench_mongo_url() { return std::getenv("CACHIER_BENCH_MONGO_URL"); }

std::string collection_url(const std::string& name) {
    return std::string(bench_mongo_url()) + "/cachier_bench?collection=" + name + std::to_string(::getpid());
}

// One raw libmongoc find of one of the very documents the hit benchmark reads: a collection that
// cachier filled the same way (2,048 entries), queried by (function, key) through a pooled client
// as the backend uses (the test server scans collections: the documents and their number count).
void BM_MongoRawFindOne(benchmark::State& state) {
    if (bench_mongo_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_MONGO_URL is not set");
    const std::string function = "bench.mongo.price";
    auto store = cachier::backend_from_url(collection_url("raw"));
    auto filled = cached_price_on(store, function);
    std::vector<std::string> keys;
    store->list_entries(function, [&](const cachier::entry_info& e) {
        keys.push_back(e.key);
        return true;
    });
    mongoc_init();
    mongoc_uri_t* uri = mongoc_uri_new(bench_mongo_url());
    mongoc_client_pool_t* pool = mongoc_client_pool_new(uri);
    mongoc_client_t* client = mongoc_client_pool_pop(pool);
    mongoc_collection_t* collection = mongoc_client_get_collection(
        client, "cachier_bench", ("raw" + std::to_string(::getpid())).c_str());
    const auto* name = reinterpret_cast<const std::uint8_t*>(function.data());
    const auto name_size = static_cast<std::uint32_t>(function.size());
    bson_t* opts = BCON_NEW("limit", BCON_INT64(1));
    std::size_t k = 0;
    for (auto _ : state) {
        bson_t* filter = BCON_NEW("function", BCON_BIN(BSON_SUBTYPE_BINARY, name, name_size), "key",
                                  BCON_UTF8(keys[k].c_str()));
        mongoc_cursor_t* cursor = mongoc_collection_find_with_opts(collection, filter, opts, nullptr);
        const bson_t* found = nullptr;
        if (!mongoc_cursor_next(cursor, &found)) state.SkipWithError("a stored document was not found");
        mongoc_cursor_destroy(cursor);
        bson_destroy(filter);
        k = (k + 1) % std::min<std::size_t>(keys.size(), key_count);
    }
    bson_destroy(opts);
    mongoc_collection_destroy(collection);
    mongoc_client_pool_push(pool, client);
    mongoc_client_pool_destroy(pool);
    mongoc_uri_destroy(uri);
}
BENCHMARK(BM_MongoRawFindOne)->Unit(benchmark::kMicrosecond);

void BM_MongoHit(benchmark::State& state) {
    if (bench_mongo_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_MONGO_URL is not set");
    auto f = cached_price_on(cachier::backend_from_url(collection_url("hit")), "bench.mongo.price");
    run_price_hits(state, f);
}
BENCHMARK(BM_MongoHit)->Unit(benchmark::kMicrosecond);

void BM_MongoMissAndStore(benchmark::State& state) {
    if (bench_mongo_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_MONGO_URL is not set");
    cachier::options o;
    o.backend = cachier::backend_from_url(collection_url("miss"));
    auto f = cachier::cachier("bench.mongo.miss", work, o);
    for (auto _ : state) benchmark::DoNotOptimize(f(next_cold_key()));
}
BENCHMARK(BM_MongoMissAndStore)->Unit(benchmark::kMicrosecond);

std::size_t lines_of(const char* file) {
    std::ifstream in(file);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
}

// How many requests a process waiting for another's 3-second computation sends per second,
// counted on the server (every command it ran, minus the computing caller's own), and how long
// after the store it returns: on a standalone server (waiters poll) and on a replica set (waiters
// hear the store through a change stream; its getMore commands are counted too).
void BM_MongoWaiterRequests(benchmark::State& state, const char* url_variable, const char* log_variable,
                            const char* url_options) {
    const char* url = std::getenv(url_variable);
    const char* log = std::getenv(log_variable);
    if (url == nullptr || log == nullptr)
        return state.SkipWithError((std::string(url_variable) + " or " + log_variable + " is not set").c_str());
    // The computing caller has a backend of its own, as another process would: the waiter
    // hears of its store only through the server.
    const std::string storage =
        std::string(url) + "/cachier_bench?collection=wait" + std::to_string(::getpid()) + url_options;
    const auto slow_on = [&] {
        cachier::options o;
        o.backend = cachier::backend_from_url(storage);
        (void)o.backend->read({"bench.mongo.warm_up", "k"}, std::chrono::seconds(0));  // connected, index made
        return three_second_function("bench.mongo.wait", o);
    };
    auto slow = slow_on();
    auto elsewhere = slow_on();
    run_waits(state, slow, elsewhere, [&](const auto& wait) {
        const std::size_t before = lines_of(log);
        wait();
        // The computing caller's store is one command; everything else is the waiter's.
        return lines_of(log) - before - 1;
    });
}
BENCHMARK_CAPTURE(BM_MongoWaiterRequests, standalone, "CACHIER_BENCH_MONGO_URL", "CACHIER_BENCH_MONGO_LOG", "")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MongoWaiterRequests, replica_set, "CACHIER_BENCH_MONGO_RS_URL", "CACHIER_BENCH_MONGO_RS_LOG",
                  "&replicaSet=rs0")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

const bool goals = add_goals({
    {"mongo hit / raw libmongoc find round trip (<= 1.3x)", "BM_MongoHit", "BM_MongoRawFindOne", 0, 1.3},
    {"mongo miss + store / mongo hit (no goal)", "BM_MongoMissAndStore", "BM_MongoHit"},
    {"mongo waiter requests per second / 10, standalone (<= 1x)", "BM_MongoWaiterRequests/standalone/iterations:1",
     "", 0.010, 1.0, false, "k/s"},
    {"mongo waiter requests per second / 10, replica set (<= 1x)", "BM_MongoWaiterRequests/replica_set/iterations:1",
     "", 0.010, 1.0, false, "k/s"},
});

}  // namespace
