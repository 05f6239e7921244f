// Redis backend benchmarks (need CACHIER_BENCH_REDIS_URL, e.g. from scripts/bench.sh; skipped otherwise).
// Run: build/default/bench/cachier_bench_redis (Release), or every program with scripts/bench.sh.

#include <cstdlib>
#include <string>

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <cachier/cachier.hpp>

#include "bench_support.hpp"

namespace {

using namespace cachier::bench;

const bool heap_kept = keep_large_buffers_on_the_heap();

const char* bench_redis_url() { return std::getenv("CACHIER_BENCH_REDIS_URL"); }

std::shared_ptr<cachier::backend> bench_redis_backend() {
    return cachier::redis_backend(std::string(bench_redis_url()) + "/0?prefix=bench" + std::to_string(::getpid()));
}

// One raw hiredis GET round trip of the same bytes a cached value has (the encoded double).
void BM_RedisRawGet(benchmark::State& state) {
    if (bench_redis_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_REDIS_URL is not set");
    const std::string url = bench_redis_url();
    const auto colon = url.rfind(':');
    redisContext* c = redisConnect(url.substr(8, colon - 8).c_str(), std::stoi(url.substr(colon + 1)));
    const std::string value = cachier::encode(price(skus()[0], 3));
    freeReplyObject(redisCommand(c, "SET bench:raw %b", value.data(), value.size()));
    for (auto _ : state) {
        auto* reply = static_cast<redisReply*>(redisCommand(c, "GET bench:raw"));
        benchmark::DoNotOptimize(reply->str);
        freeReplyObject(reply);
    }
    redisFree(c);
}
BENCHMARK(BM_RedisRawGet)->Unit(benchmark::kMicrosecond);

void BM_RedisHit(benchmark::State& state) {
    if (bench_redis_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_REDIS_URL is not set");
    auto f = cached_price_on(bench_redis_backend(), "bench.redis.price");
    run_price_hits(state, f);
}
BENCHMARK(BM_RedisHit)->Unit(benchmark::kMicrosecond);

void BM_RedisMissAndStore(benchmark::State& state) {
    if (bench_redis_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_REDIS_URL is not set");
    cachier::options o;
    o.backend = cachier::redis_backend(std::string(bench_redis_url()) + "/0?prefix=miss" + std::to_string(::getpid()));
    auto f = cachier::cachier("bench.redis.miss", work, o);
    for (auto _ : state) benchmark::DoNotOptimize(f(next_cold_key()));
}
BENCHMARK(BM_RedisMissAndStore)->Unit(benchmark::kMicrosecond);

void BM_RedisHitThreads(benchmark::State& state) {
    if (bench_redis_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_REDIS_URL is not set");
    run_threaded_price_hits(state, [] { return cached_price_on(bench_redis_backend(), "bench.redis.price"); });
}
BENCHMARK(BM_RedisHitThreads)->Threads(1)->Threads(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

// A raw miss's baseline: GET of a key nobody stored, then SET of the same bytes a cached value has,
// on one kept connection.
void BM_RedisRawGetSetPair(benchmark::State& state) {
    if (bench_redis_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_REDIS_URL is not set");
    const std::string url = bench_redis_url();
    const auto colon = url.rfind(':');
    redisContext* c = redisConnect(url.substr(8, colon - 8).c_str(), std::stoi(url.substr(colon + 1)));
    for (auto _ : state) {
        const std::int64_t k = next_cold_key();
        const std::string key = "bench:pair:" + std::to_string(::getpid()) + ":" + std::to_string(k);
        const std::string value = cachier::encode(work(k));
        auto* got = static_cast<redisReply*>(redisCommand(c, "GET %b", key.data(), key.size()));
        benchmark::DoNotOptimize(got->type);
        freeReplyObject(got);
        freeReplyObject(redisCommand(c, "SET %b %b", key.data(), key.size(), value.data(), value.size()));
    }
    redisFree(c);
}
BENCHMARK(BM_RedisRawGetSetPair)->Unit(benchmark::kMicrosecond);

// A 1 MB value: a hit against a raw hiredis GET of the same bytes, copied into a std::string as the
// hit returns it.
void BM_RedisRawGetLargeValue(benchmark::State& state) {
    if (bench_redis_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_REDIS_URL is not set");
    const std::string url = bench_redis_url();
    const auto colon = url.rfind(':');
    redisContext* c = redisConnect(url.substr(8, colon - 8).c_str(), std::stoi(url.substr(colon + 1)));
    const std::string value = large_value(database_value_size);
    freeReplyObject(redisCommand(c, "SET bench:raw_large %b", value.data(), value.size()));
    for (auto _ : state) {
        auto* reply = static_cast<redisReply*>(redisCommand(c, "GET bench:raw_large"));
        std::string copy(reply->str, reply->len);
        benchmark::DoNotOptimize(copy);
        freeReplyObject(reply);
    }
    state.SetBytesProcessed(state.iterations() * database_value_size);
    redisFree(c);
}
BENCHMARK(BM_RedisRawGetLargeValue)->Unit(benchmark::kMicrosecond);

void BM_RedisHitLargeValue(benchmark::State& state) {
    if (bench_redis_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_REDIS_URL is not set");
    auto f = cached_large_value_on(bench_redis_backend(), "bench.redis.large");
    run_large_value_hits(state, f);
}
BENCHMARK(BM_RedisHitLargeValue)->Unit(benchmark::kMicrosecond);

// A hit kept in the process, in front of Redis, against a memory-backend hit.
BENCHMARK(BM_MemoryHitBaseline);
void BM_RedisTieredHit(benchmark::State& state) {
    if (bench_redis_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_REDIS_URL is not set");
    run_tiered_price_hits(state, bench_redis_backend(), "bench.redis.tiered");
}
BENCHMARK(BM_RedisTieredHit);

const bool goals = add_goals({
    {"tiered hit over redis / memory hit (<= 2x)", "BM_RedisTieredHit", "BM_MemoryHitBaseline", 0, 2.0, false, "ns"},
    {"redis hit / raw hiredis GET round trip (<= 1.3x)", "BM_RedisHit", "BM_RedisRawGet", 0, 1.3},
    {"redis hit of 1 MB / raw GET of it (<= 1.3x)", "BM_RedisHitLargeValue", "BM_RedisRawGetLargeValue", 0, 1.3},
    {"redis miss + store / redis hit (no goal)", "BM_RedisMissAndStore", "BM_RedisHit"},
    {"redis miss + store / raw GET+SET pair (<= 1.5x)", "BM_RedisMissAndStore", "BM_RedisRawGetSetPair", 0, 1.5},
    {"redis hits/s, 2 threads / 1 thread (no goal)", "BM_RedisHitThreads/real_time/threads:2",
     "BM_RedisHitThreads/real_time/threads:1", 0, 0, true, "k/s"},
});

}  // namespace
