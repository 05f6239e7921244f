// SQLite backend benchmarks.
// Run: build/default/bench/cachier_bench_sqlite (Release), or every program with scripts/bench.sh.

#include <string>
#include <vector>

#include <sqlite3.h>

#include <cachier/cachier.hpp>

#include "bench_support.hpp"

namespace {

using namespace cachier::bench;

const bool heap_kept = keep_large_buffers_on_the_heap();

std::string sqlite_bench_url() { return "sqlite://" + (bench_dir("sqlite") / "bench.db").string(); }

// The baseline: a prepared SELECT of the same bytes from a plain two-column table with as many rows
// as the cached function has (2 * key_count, 64-character keys), reading the same 1,024 of them in
// turn, so that both sides walk a B-tree of the same size with the same spread.
void BM_SqliteRawSelect(benchmark::State& state) {
    sqlite3* db = nullptr;
    sqlite3_open((bench_dir("sqlite") / "raw.db").c_str(), &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS raw (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID",
                 nullptr, nullptr, nullptr);
    const std::string value = cachier::encode(price(skus()[0], 3));
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < skus().size(); ++i) keys.push_back(cachier::encode(std::uint64_t{i}) + std::string(56, 'k'));
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO raw VALUES (?1, ?2)", -1, &insert, nullptr);
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (const auto& key : keys) {
        sqlite3_reset(insert);
        sqlite3_bind_text(insert, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
        sqlite3_bind_blob(insert, 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
        sqlite3_step(insert);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_finalize(insert);
    sqlite3_stmt* select = nullptr;
    sqlite3_prepare_v2(db, "SELECT v FROM raw WHERE k = ?1", -1, &select, nullptr);
    std::size_t k = 0;
    for (auto _ : state) {
        sqlite3_reset(select);
        sqlite3_bind_text(select, 1, keys[k].data(), static_cast<int>(keys[k].size()), SQLITE_STATIC);
        sqlite3_step(select);
        std::string copy(static_cast<const char*>(sqlite3_column_blob(select, 0)),
                         static_cast<std::size_t>(sqlite3_column_bytes(select, 0)));
        benchmark::DoNotOptimize(copy);
        k = (k + 1) % key_count;
    }
    sqlite3_finalize(select);
    sqlite3_close(db);
}
BENCHMARK(BM_SqliteRawSelect)->Unit(benchmark::kMicrosecond);

void BM_SqliteHit(benchmark::State& state) {
    auto f = cached_price_on(cachier::sql_backend(sqlite_bench_url()), "bench.sql.price");
    run_price_hits(state, f);
}
BENCHMARK(BM_SqliteHit)->Unit(benchmark::kMicrosecond);

// Hits per second with 1 and 2 threads on one backend: its connection pool has no lock that
// serializes the process's threads.
void BM_SqliteHitThreads(benchmark::State& state) {
    run_threaded_price_hits(state,
                            [] { return cached_price_on(cachier::sql_backend(sqlite_bench_url()), "bench.sql.price"); });
}
BENCHMARK(BM_SqliteHitThreads)->Threads(1)->Threads(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_SqliteMissAndStore(benchmark::State& state) {
    cachier::options o;
    o.backend = cachier::sql_backend(sqlite_bench_url());
    auto f = cachier::cachier("bench.sql.miss", work, o);
    for (auto _ : state) benchmark::DoNotOptimize(f(next_cold_key()));
}
BENCHMARK(BM_SqliteMissAndStore)->Unit(benchmark::kMicrosecond);

// A 1 MB value: a hit against a prepared SELECT of the same bytes from a key-value table of the
// same layout as the cache's (a rowid table, its key an index), copied into a std::string as the
// hit returns it.
void BM_SqliteRawSelectLargeValue(benchmark::State& state) {
    sqlite3* db = nullptr;
    sqlite3_open((bench_dir("sqlite") / "raw_large.db").c_str(), &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS raw (k TEXT PRIMARY KEY, v BLOB)", nullptr,
                 nullptr, nullptr);
    const std::string value = large_value(database_value_size);
    const std::string key(64, 'k');
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO raw VALUES (?1, ?2)", -1, &insert, nullptr);
    sqlite3_bind_text(insert, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert, 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    sqlite3_step(insert);
    sqlite3_finalize(insert);
    sqlite3_stmt* select = nullptr;
    sqlite3_prepare_v2(db, "SELECT v FROM raw WHERE k = ?1", -1, &select, nullptr);
    for (auto _ : state) {
        sqlite3_reset(select);
        sqlite3_bind_text(select, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
        sqlite3_step(select);
        std::string copy(static_cast<const char*>(sqlite3_column_blob(select, 0)),
                         static_cast<std::size_t>(sqlite3_column_bytes(select, 0)));
        benchmark::DoNotOptimize(copy);
    }
    state.SetBytesProcessed(state.iterations() * database_value_size);
    sqlite3_finalize(select);
    sqlite3_close(db);
}
BENCHMARK(BM_SqliteRawSelectLargeValue)->Unit(benchmark::kMicrosecond);

void BM_SqliteHitLargeValue(benchmark::State& state) {
    auto f = cached_large_value_on(cachier::sql_backend(sqlite_bench_url()), "bench.sql.large");
    run_large_value_hits(state, f);
}
BENCHMARK(BM_SqliteHitLargeValue)->Unit(benchmark::kMicrosecond);

const bool goals = add_goals({
    {"sqlite hit of 1 MB / raw prepared SELECT of it (<= 1.3x)", "BM_SqliteHitLargeValue",
     "BM_SqliteRawSelectLargeValue", 0, 1.3},
    {"sqlite hit / raw prepared SELECT (<= 2x)", "BM_SqliteHit", "BM_SqliteRawSelect", 0, 2.0},
    {"sqlite hits/s, 2 threads / 1 thread (no goal)", "BM_SqliteHitThreads/real_time/threads:2",
     "BM_SqliteHitThreads/real_time/threads:1", 0, 0, true, "k/s"},
    {"sqlite miss + store / sqlite hit (no goal)", "BM_SqliteMissAndStore", "BM_SqliteHit"},
});

}  // namespace
