// Benchmarks. Each goal is checked against a baseline measured in the same run, and the summary at
// the end prints every ratio. Run: build/default/bench/cachier_bench (Release build).

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <optional>
#include <unordered_map>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>

#ifdef CACHIER_BENCH_HAS_REDIS
#include <hiredis/hiredis.h>
#endif
#ifdef CACHIER_BENCH_HAS_SQL
#include <libpq-fe.h>
#include <sqlite3.h>
#endif

#include <cachier/cachier.hpp>

namespace {

constexpr std::int64_t key_count = 1024;

// The function being cached: cheap, so that the benchmarks measure the caches.
std::int64_t work(std::int64_t x) { return x * 2654435761LL % 1000003; }

// A key no benchmark has used yet in this process, so that every call of a miss benchmark misses,
// in every repetition.
std::int64_t next_cold_key() {
    static std::int64_t next = 0;
    return next++;
}

// ---- Memory hit against a hand-written memo of the same function ----
//
// The function has the shape of what people cache: a string and a number in, a double out (the
// quickstart's slow_price). The memo is what one would write by hand: a mutex and an unordered_map
// keyed by the arguments. A second pair does the same for int64 -> int64, where the memo is a bare
// integer lookup, and is reported for information.

double price(const std::string& sku, int quantity) { return static_cast<double>(sku.size()) * 9.99 * quantity; }

std::vector<std::string> make_skus() {
    std::vector<std::string> skus;
    for (std::int64_t k = 0; k < key_count * 2; ++k) skus.push_back("catalog/sku-" + std::to_string(100000 + k));
    return skus;
}
const std::vector<std::string>& skus() {
    static const auto all = make_skus();
    return all;
}

// Hits on the price keys first .. first + key_count - 1, in turn.
template <class F>
void run_price_hits(benchmark::State& state, F& f, std::size_t first = 0) {
    std::size_t k = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(f(skus()[first + k], 3));
        k = (k + 1) % key_count;
    }
}

// Hits per second from 1 or 2 threads on one cached function, which thread 0 makes; each thread
// uses its own keys. `make` must store all 2 * key_count price keys.
template <class Make>
void run_threaded_price_hits(benchmark::State& state, Make make) {
    static std::optional<decltype(make())> shared;  // one per call site: each lambda is its own type
    if (state.thread_index() == 0) shared.emplace(make());
    run_price_hits(state, *shared, static_cast<std::size_t>(state.thread_index()) * key_count);
    state.SetItemsProcessed(state.iterations());
}

struct pair_hash {
    std::size_t operator()(const std::pair<std::string, int>& p) const noexcept {
        return std::hash<std::string>{}(p.first) * 31 + static_cast<std::size_t>(p.second);
    }
};

class hand_written_price_memo {
public:
    double operator()(const std::string& sku, int quantity) {
        const std::lock_guard lock(mutex_);
        auto key = std::make_pair(sku, quantity);
        auto it = values_.find(key);
        if (it != values_.end()) return it->second;
        return values_.emplace(std::move(key), price(sku, quantity)).first->second;
    }

private:
    std::mutex mutex_;
    std::unordered_map<std::pair<std::string, int>, double, pair_hash> values_;
};

void BM_MemoBaselineHit(benchmark::State& state) {
    hand_written_price_memo memo;
    for (std::int64_t k = 0; k < key_count; ++k) memo(skus()[static_cast<std::size_t>(k)], 3);
    run_price_hits(state, memo);
}
BENCHMARK(BM_MemoBaselineHit);

auto memory_cached_price() {
    cachier::options o;
    o.backend = cachier::memory_backend();
    auto f = cachier::cachier("bench.memory.price", price, o);
    for (const auto& sku : skus()) f(sku, 3);
    return f;
}

void BM_MemoryHit(benchmark::State& state) {
    auto f = memory_cached_price();
    run_price_hits(state, f);
}
BENCHMARK(BM_MemoryHit);

class hand_written_int_memo {
public:
    std::int64_t operator()(std::int64_t x) {
        const std::lock_guard lock(mutex_);
        auto it = values_.find(x);
        if (it != values_.end()) return it->second;
        return values_.emplace(x, work(x)).first->second;
    }

private:
    std::mutex mutex_;
    std::unordered_map<std::int64_t, std::int64_t> values_;
};

void BM_IntMemoBaselineHit(benchmark::State& state) {
    hand_written_int_memo memo;
    for (std::int64_t k = 0; k < key_count; ++k) memo(k);
    std::int64_t k = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(memo(k));
        k = (k + 1) % key_count;
    }
}
BENCHMARK(BM_IntMemoBaselineHit);

void BM_IntMemoryHit(benchmark::State& state) {
    cachier::options o;
    o.backend = cachier::memory_backend();
    auto f = cachier::cachier("bench.memory.int", work, o);
    for (std::int64_t k = 0; k < key_count; ++k) f(k);
    std::int64_t k = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(f(k));
        k = (k + 1) % key_count;
    }
}
BENCHMARK(BM_IntMemoryHit);

// Hits per second with 1 and 2 threads, each thread on its own keys.
void BM_MemoryHitThreads(benchmark::State& state) {
    run_threaded_price_hits(state, [] { return memory_cached_price(); });
}
BENCHMARK(BM_MemoryHitThreads)->Threads(1)->Threads(2)->UseRealTime();

// ---- File backend ----

std::filesystem::path bench_dir(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() / ("cachier-bench-" + std::to_string(::getpid())) / name;
    std::filesystem::create_directories(dir);
    return dir;
}

struct cleanup_bench_dirs {
    ~cleanup_bench_dirs() {
        std::error_code ignored;
        std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("cachier-bench-" + std::to_string(::getpid())),
                                    ignored);
    }
} cleanup_at_exit;

// Hits on a fixed set of 100 keys spread over a directory of N entries: the cost of finding one
// entry must not grow with the number of entries (the goal). The same keys are hot in the kernel's
// caches whatever N is, so this isolates the directory's size.
constexpr std::int64_t hot_keys = 100;

auto file_cached_with(std::int64_t entries) {
    cachier::options o;
    o.backend = cachier::file_backend(bench_dir("hit" + std::to_string(entries)));
    auto f = cachier::cachier("bench.file_hit", work, o);
    if (f.metrics().calls == 0 && !std::filesystem::exists(*f.cache_dpath()))
        for (std::int64_t k = 0; k < entries; ++k) f.precache_value(work(k), k);
    return f;
}

void BM_FileHit(benchmark::State& state) {
    const auto entries = state.range(0);
    auto f = file_cached_with(entries);
    const std::int64_t stride = entries / hot_keys;
    std::int64_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(f(i * stride));
        i = (i + 1) % hot_keys;
    }
}
BENCHMARK(BM_FileHit)->Arg(100)->Arg(10000)->Arg(20000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// For information: hits spread over every entry, so with many entries most lookups also miss the
// CPU caches (kernel dentries, inodes and pages no longer fit). No goal.
void BM_FileHitEveryKey(benchmark::State& state) {
    const auto entries = state.range(0);
    auto f = file_cached_with(entries);
    std::int64_t k = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(f(k));
        k = (k + 7919) % entries;
    }
}
BENCHMARK(BM_FileHitEveryKey)->Arg(100)->Arg(20000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// A miss: claim, compute, store (temp file + rename), release.
void BM_FileMissAndStore(benchmark::State& state) {
    cachier::options o;
    o.backend = cachier::file_backend(bench_dir("miss"));
    auto f = cachier::cachier("bench.file_miss", work, o);
    for (auto _ : state) benchmark::DoNotOptimize(f(next_cold_key()));
}
BENCHMARK(BM_FileMissAndStore)->Unit(benchmark::kMicrosecond);

// ---- Redis (needs CACHIER_BENCH_REDIS_URL, e.g. from scripts/bench.sh; skipped otherwise) ----

#ifdef CACHIER_BENCH_HAS_REDIS
const char* bench_redis_url() { return std::getenv("CACHIER_BENCH_REDIS_URL"); }

auto redis_cached_price() {
    cachier::options o;
    o.backend = cachier::redis_backend(std::string(bench_redis_url()) + "/0?prefix=bench" + std::to_string(::getpid()));
    auto f = cachier::cachier("bench.redis.price", price, o);
    for (const auto& sku : skus()) f(sku, 3);
    return f;
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
    auto f = redis_cached_price();
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
    run_threaded_price_hits(state, [] { return redis_cached_price(); });
}
BENCHMARK(BM_RedisHitThreads)->Threads(1)->Threads(2)->UseRealTime()->Unit(benchmark::kMicrosecond);
#endif

// ---- SQL: SQLite always; PostgreSQL with CACHIER_BENCH_POSTGRES_URL (scripts/bench.sh) ----

#ifdef CACHIER_BENCH_HAS_SQL
std::string sqlite_bench_url() { return "sqlite://" + (bench_dir("sqlite") / "bench.db").string(); }
const char* bench_postgres_url() { return std::getenv("CACHIER_BENCH_POSTGRES_URL"); }

auto sql_cached_price(const std::string& url) {
    cachier::options o;
    o.backend = cachier::sql_backend(url);
    auto f = cachier::cachier("bench.sql.price", price, o);
    for (const auto& sku : skus()) f(sku, 3);
    return f;
}

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
    auto f = sql_cached_price(sqlite_bench_url());
    run_price_hits(state, f);
}
BENCHMARK(BM_SqliteHit)->Unit(benchmark::kMicrosecond);

// Hits per second with 1 and 2 threads on one backend: its connection pool has no lock that
// serializes the process's threads.
void BM_SqliteHitThreads(benchmark::State& state) {
    run_threaded_price_hits(state, [] { return sql_cached_price(sqlite_bench_url()); });
}
BENCHMARK(BM_SqliteHitThreads)->Threads(1)->Threads(2)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_SqliteMissAndStore(benchmark::State& state) {
    cachier::options o;
    o.backend = cachier::sql_backend(sqlite_bench_url());
    auto f = cachier::cachier("bench.sql.miss", work, o);
    for (auto _ : state) benchmark::DoNotOptimize(f(next_cold_key()));
}
BENCHMARK(BM_SqliteMissAndStore)->Unit(benchmark::kMicrosecond);

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

void BM_PostgresHit(benchmark::State& state) {
    if (bench_postgres_url() == nullptr) return state.SkipWithError("CACHIER_BENCH_POSTGRES_URL is not set");
    auto f = sql_cached_price(bench_postgres_url());
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
#endif

// ---- Summary: the goals and their ratios ----

class summary_reporter : public benchmark::ConsoleReporter {
public:
    explicit summary_reporter(OutputOptions options) : ConsoleReporter(options) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const auto& run : runs) {
            if (run.error_occurred) continue;
            // With --benchmark_repetitions the median stands for the benchmark; otherwise the one run.
            const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
            if (run.run_type != Run::RT_Iteration && !median) continue;
            const std::string name = median ? run.run_name.str() : run.benchmark_name();
            ns_per_op_[name] = run.GetAdjustedRealTime() * to_ns(run.time_unit);
            if (auto it = run.counters.find("items_per_second"); it != run.counters.end())
                per_second_[name] = it->second.value;
        }
    }

    // Returns false when a goal is missed.
    bool print_summary() const {
        std::printf("\n%-58s %12s %12s %8s %s\n", "goal", "measured", "baseline", "ratio", "");
        bool ok = true;
        // limit == 0: a figure for information, with no goal.
        auto row = [&](const std::string& goal, double measured, double baseline, double limit, bool at_most,
                       const char* unit) {
            if (measured <= 0 || baseline <= 0) {
                std::printf("%-58s %s\n", goal.c_str(), "(not run)");
                return;
            }
            const double ratio = measured / baseline;
            const bool pass = limit == 0 || (at_most ? ratio <= limit : ratio >= limit);
            ok = ok && pass;
            std::printf("%-58s %10.3f%s %10.3f%s %7.2fx %s\n", goal.c_str(), measured, unit, baseline, unit, ratio,
                        limit == 0 ? "info" : pass ? "ok" : "MISSED");
        };
        auto ns = [this](const std::string& n) { return ns_per_op_.count(n) ? ns_per_op_.at(n) : 0.0; };
        auto ps = [this](const std::string& n) { return per_second_.count(n) ? per_second_.at(n) : 0.0; };
        row("memory hit / hand-written memo hit (<= 5x)", ns("BM_MemoryHit"), ns("BM_MemoBaselineHit"), 5.0, true,
            "ns");
        row("int64 -> int64 memory hit / int memo hit (no goal)", ns("BM_IntMemoryHit"), ns("BM_IntMemoBaselineHit"), 0,
            true, "ns");
        row("memory hits/s, 2 threads / 1 thread (>= 1.5x)", ps("BM_MemoryHitThreads/real_time/threads:2") / 1e6,
            ps("BM_MemoryHitThreads/real_time/threads:1") / 1e6, 1.5, false, "M/s");
        row("file hit, 100 entries / 20 us goal (<= 1x)", ns("BM_FileHit/100") / 1e3, 20.0, 1.0, true, "us");
        row("file hit, 20,000 / 100 entries (<= 1.5x)", ns("BM_FileHit/20000") / 1e3, ns("BM_FileHit/100") / 1e3, 1.5,
            true, "us");
        row("file hit, 100,000 / 100 entries (<= 1.5x)", ns("BM_FileHit/100000") / 1e3, ns("BM_FileHit/100") / 1e3,
            1.5, true, "us");
        row("file hit on every key, 100,000 / 100 entries (no goal)", ns("BM_FileHitEveryKey/100000") / 1e3,
            ns("BM_FileHitEveryKey/100") / 1e3, 0, true, "us");
        row("file miss + store / 300 us goal (<= 1x)", ns("BM_FileMissAndStore") / 1e3, 300.0, 1.0, true, "us");
        row("redis hit / raw hiredis GET round trip (<= 1.3x)", ns("BM_RedisHit") / 1e3, ns("BM_RedisRawGet") / 1e3, 1.3,
            true, "us");
        row("sqlite hit / raw prepared SELECT (<= 2x)", ns("BM_SqliteHit") / 1e3, ns("BM_SqliteRawSelect") / 1e3, 2.0,
            true, "us");
        row("sqlite hits/s, 2 threads / 1 thread (no goal)", ps("BM_SqliteHitThreads/real_time/threads:2") / 1e3,
            ps("BM_SqliteHitThreads/real_time/threads:1") / 1e3, 0, false, "k/s");
        row("sqlite miss + store / sqlite hit (no goal)", ns("BM_SqliteMissAndStore") / 1e3, ns("BM_SqliteHit") / 1e3,
            0, true, "us");
        row("postgres hit / raw libpq prepared SELECT (<= 1.3x)", ns("BM_PostgresHit") / 1e3,
            ns("BM_PostgresRawSelect") / 1e3, 1.3, true, "us");
        row("postgres miss + store / postgres hit (no goal)", ns("BM_PostgresMissAndStore") / 1e3,
            ns("BM_PostgresHit") / 1e3, 0, true, "us");
        row("redis miss + store / redis hit (no goal)", ns("BM_RedisMissAndStore") / 1e3, ns("BM_RedisHit") / 1e3, 0,
            true, "us");
        row("redis hits/s, 2 threads / 1 thread (no goal)", ps("BM_RedisHitThreads/real_time/threads:2") / 1e3,
            ps("BM_RedisHitThreads/real_time/threads:1") / 1e3, 0, false, "k/s");
        return ok;
    }

private:
    static double to_ns(benchmark::TimeUnit unit) {
        switch (unit) {
            case benchmark::kNanosecond: return 1;
            case benchmark::kMicrosecond: return 1e3;
            case benchmark::kMillisecond: return 1e6;
            case benchmark::kSecond: return 1e9;
        }
        return 1;
    }
    std::map<std::string, double> ns_per_op_;
    std::map<std::string, double> per_second_;
};

}  // namespace

int main(int argc, char** argv) {
    cachier::set_log_callback(nullptr);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    // Colours only on a terminal, so that logs and the README copy stay plain text.
    summary_reporter reporter(::isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                                                      : benchmark::ConsoleReporter::OO_Tabular);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return reporter.print_summary() ? 0 : 1;
}
