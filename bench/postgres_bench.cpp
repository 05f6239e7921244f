// PostgreSQL backend benchmarks (need CACHIER_BENCH_POSTGRES_URL, e.g. from scripts/bench.sh; skipped otherwise).
// Run: build/default/bench/cachier_bench_postgres (Release), or every program with scripts/bench.sh.

#include <cstdlib>
#include <string>

#include <libpq-fe.h>
#include <unistd.h>

#include <cachier/cachier.hpp>

#include "bench_support.hpp"

namespace {

using namespace cachier::bench;

const bool heap_kept = keep_large_buffers_on_the_heap();

const char* bench_postgres_url() { return std::getenv("CACHIER_BENCH_POSTGRES_URL"); }

void BM_PostgresRawSelect(benchmark::State& state) {
    if (bench_postgres_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_POSTGRES_URL is not set");
    PGconn* c = PQconnectdb(bench_postgres_url());
    PQclear(PQexec(c, "CREATE TABLE IF NOT EXISTS raw (k text PRIMARY KEY, v bytea)"));
    const std::string value = cachier::encode(price(skus()[0], 3));
    const std::string key(64, 'a');
    const char* insert_values[] = {key.c_str(), value.data()};
    const int insert_lengths[] = {0, static_cast<int>(value.size())};
    const int insert_formats[] = {0, 1};
    PQclear(PQexecParams(c, "INSERT INTO raw VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", 2, nullptr,
                         insert_values, insert_lengths, insert_formats, 1));
    PQclear(PQprepare(c, "raw_select", "SELECT v FROM raw WHERE k = $1", 1, nullptr));
    const char* values[] = {key.c_str()};
    for (auto _ : state) {
        PGresult* r = PQexecPrepared(c, "raw_select", 1, values, nullptr, nullptr, 1);
        std::string copy(PQgetvalue(r, 0, 0), static_cast<std::size_t>(PQgetlength(r, 0, 0)));
        benchmark::DoNotOptimize(copy);
        PQclear(r);
    }
    PQfinish(c);
}
BENCHMARK(BM_PostgresRawSelect)->Unit(benchmark::kMicrosecond);

// A 1 MB value: a hit against a prepared SELECT of the same bytes (binary result), copied into a
// std::string as the hit returns it.
void BM_PostgresRawSelectLargeValue(benchmark::State& state) {
    if (bench_postgres_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_POSTGRES_URL is not set");
    PGconn* c = PQconnectdb(bench_postgres_url());
    PQclear(PQexec(c, "CREATE TABLE IF NOT EXISTS raw (k text PRIMARY KEY, v bytea)"));
    const std::string value = large_value(database_value_size);
    const std::string key(64, 'l');
    const char* insert_values[] = {key.c_str(), value.data()};
    const int insert_lengths[] = {0, static_cast<int>(value.size())};
    const int insert_formats[] = {0, 1};
    PQclear(PQexecParams(c, "INSERT INTO raw VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", 2, nullptr,
                         insert_values, insert_lengths, insert_formats, 1));
    PQclear(PQprepare(c, "raw_select_large", "SELECT v FROM raw WHERE k = $1", 1, nullptr));
    const char* values[] = {key.c_str()};
    for (auto _ : state) {
        PGresult* r = PQexecPrepared(c, "raw_select_large", 1, values, nullptr, nullptr, 1);
        std::string copy(PQgetvalue(r, 0, 0), static_cast<std::size_t>(PQgetlength(r, 0, 0)));
        benchmark::DoNotOptimize(copy);
        PQclear(r);
    }
    state.SetBytesProcessed(state.iterations() * database_value_size);
    PQfinish(c);
}
BENCHMARK(BM_PostgresRawSelectLargeValue)->Unit(benchmark::kMicrosecond);

void BM_PostgresHitLargeValue(benchmark::State& state) {
    if (bench_postgres_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_POSTGRES_URL is not set");
    auto f = cached_large_value_on(cachier::sql_backend(bench_postgres_url()), "bench.sql.large");
    run_large_value_hits(state, f);
}
BENCHMARK(BM_PostgresHitLargeValue)->Unit(benchmark::kMicrosecond);

void BM_PostgresHit(benchmark::State& state) {
    if (bench_postgres_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_POSTGRES_URL is not set");
    auto f = cached_price_on(cachier::sql_backend(bench_postgres_url()), "bench.sql.price");
    run_price_hits(state, f);
}
BENCHMARK(BM_PostgresHit)->Unit(benchmark::kMicrosecond);

void BM_PostgresMissAndStore(benchmark::State& state) {
    if (bench_postgres_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_POSTGRES_URL is not set");
    cachier::options o;
    o.backend = cachier::sql_backend(bench_postgres_url());
    auto f = cachier::cachier("bench.sql.miss" + std::to_string(::getpid()), work, o);
    for (auto _ : state) benchmark::DoNotOptimize(f(next_cold_key()));
}
BENCHMARK(BM_PostgresMissAndStore)->Unit(benchmark::kMicrosecond);

// A raw miss's baseline: a prepared SELECT of a key nobody stored, then a prepared INSERT of the
// same bytes a cached value has, on one kept connection.
void BM_PostgresRawSelectInsertPair(benchmark::State& state) {
    if (bench_postgres_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_POSTGRES_URL is not set");
    PGconn* c = PQconnectdb(bench_postgres_url());
    PQclear(PQexec(c, "CREATE TABLE IF NOT EXISTS raw_pair (k text PRIMARY KEY, v bytea)"));
    PQclear(PQprepare(c, "pair_select", "SELECT v FROM raw_pair WHERE k = $1", 1, nullptr));
    PQclear(PQprepare(c, "pair_insert", "INSERT INTO raw_pair VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                      2, nullptr));
    const std::string prefix = std::to_string(::getpid()) + ":";
    for (auto _ : state) {
        const std::int64_t k = next_cold_key();
        const std::string key = prefix + std::to_string(k);
        const std::string value = cachier::encode(work(k));
        const char* select_values[] = {key.c_str()};
        PGresult* r = PQexecPrepared(c, "pair_select", 1, select_values, nullptr, nullptr, 1);
        benchmark::DoNotOptimize(PQntuples(r));
        PQclear(r);
        const char* insert_values[] = {key.c_str(), value.data()};
        const int lengths[] = {0, static_cast<int>(value.size())};
        const int formats[] = {0, 1};
        PQclear(PQexecPrepared(c, "pair_insert", 2, insert_values, lengths, formats, 1));
    }
    PQfinish(c);
}
BENCHMARK(BM_PostgresRawSelectInsertPair)->Unit(benchmark::kMicrosecond);

// A hit kept in the process, in front of PostgreSQL, against a memory-backend hit.
BENCHMARK(BM_MemoryHitBaseline);
void BM_PostgresTieredHit(benchmark::State& state) {
    if (bench_postgres_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_POSTGRES_URL is not set");
    run_tiered_price_hits(state, cachier::sql_backend(bench_postgres_url()), "bench.sql.tiered");
}
BENCHMARK(BM_PostgresTieredHit);

const bool goals = add_goals({
    {"tiered hit over postgres / memory hit (<= 2x)", "BM_PostgresTieredHit", "BM_MemoryHitBaseline", 0, 2.0, false, "ns"},
    {"postgres hit / raw libpq prepared SELECT (<= 1.3x)", "BM_PostgresHit", "BM_PostgresRawSelect", 0, 1.3},
    {"postgres hit of 1 MB / raw prepared SELECT of it (<= 1.3x)", "BM_PostgresHitLargeValue",
     "BM_PostgresRawSelectLargeValue", 0, 1.3},
    {"postgres miss + store / postgres hit (no goal)", "BM_PostgresMissAndStore", "BM_PostgresHit"},
    {"postgres miss + store / raw SELECT+INSERT pair (<= 1.5x)", "BM_PostgresMissAndStore",
     "BM_PostgresRawSelectInsertPair", 0, 1.5},
});

}  // namespace
