// Memory backend benchmarks.
// Run: build/default/bench/cachier_bench_memory (Release), or every program with scripts/bench.sh.

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <cachier/cachier.hpp>

#include "bench_support.hpp"

namespace {

using namespace cachier::bench;

// Memory hits against a hand-written memo of the same function. The memo is what one would write
// by hand: a mutex and an unordered_map keyed by the arguments. A second pair does the same for
// int64 -> int64, where the memo is a bare integer lookup, and is reported for information.

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

void BM_MemoryHit(benchmark::State& state) {
    auto f = cached_price_on(cachier::memory_backend(), "bench.memory.price");
    run_price_hits(state, f);
}
BENCHMARK(BM_MemoryHit);

// The same hits with max_entries set (far above the keys used: no eviction): what a bound costs a hit.
void BM_MemoryHitBounded(benchmark::State& state) {
    cachier::options o;
    o.backend = cachier::memory_backend();
    o.max_entries = 1'000'000;
    auto f = cachier::cachier("bench.memory.price_bounded", price, o);
    for (const auto& sku : skus()) f(sku, 3);
    run_price_hits(state, f);
}
BENCHMARK(BM_MemoryHitBounded);

// Misses stored one after another, unbounded and with max_entries 1,000 (so that the stream keeps
// evicting): what eviction costs a stream of misses. Real time: eviction runs on other threads.
void run_memory_misses(benchmark::State& state, std::optional<std::uint64_t> max_entries) {
    cachier::options o;
    o.backend = cachier::memory_backend();
    o.max_entries = max_entries;
    auto f = cachier::cachier("bench.memory.miss", work, o);
    for (auto _ : state) benchmark::DoNotOptimize(f(next_cold_key()));
    state.SetItemsProcessed(state.iterations());
}
void BM_MemoryMissStream(benchmark::State& state) { run_memory_misses(state, std::nullopt); }
BENCHMARK(BM_MemoryMissStream)->UseRealTime();
void BM_MemoryMissStreamEvicting(benchmark::State& state) { run_memory_misses(state, 1000); }
BENCHMARK(BM_MemoryMissStreamEvicting)->UseRealTime();

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
    run_threaded_price_hits(state,
                            [] { return cached_price_on(cachier::memory_backend(), "bench.memory.price"); });
}
BENCHMARK(BM_MemoryHitThreads)->Threads(1)->Threads(2)->UseRealTime();

// The machine's own scaling: each thread hits a hand-written memo of its own (nothing shared), the
// most that 2 threads can get here over 1 for work of this kind.
void BM_PrivateMemoHitThreads(benchmark::State& state) {
    hand_written_price_memo memo;
    const std::size_t first = static_cast<std::size_t>(state.thread_index()) * key_count;
    for (std::int64_t k = 0; k < key_count; ++k) memo(skus()[first + static_cast<std::size_t>(k)], 3);
    run_price_hits(state, memo, first);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrivateMemoHitThreads)->Threads(1)->Threads(2)->UseRealTime();

// A large result: a hit returns a copy of a 1,000,000-element vector, as the memo does.
constexpr std::size_t large_size = 1'000'000;
std::vector<double> large_series(std::int64_t seed) {
    std::vector<double> series(large_size);
    for (std::size_t i = 0; i < large_size; ++i) series[i] = static_cast<double>(seed) + static_cast<double>(i) * 0.5;
    return series;
}
constexpr std::int64_t large_keys = 4;

/// Hits on the large keys in turn; `hit(k)` returns the vector (or the reference to it) it got.
template <class Hit>
void run_large_hits(benchmark::State& state, Hit hit) {
    std::int64_t k = 0;
    for (auto _ : state) {
        auto got = hit(k);
        benchmark::DoNotOptimize(got);
        k = (k + 1) % large_keys;
    }
}

void BM_LargeMemoBaselineHit(benchmark::State& state) {
    std::mutex mutex;
    std::unordered_map<std::int64_t, std::vector<double>> values;
    const auto memo = [&](std::int64_t x) {
        const std::lock_guard lock(mutex);
        auto it = values.find(x);
        if (it == values.end()) it = values.emplace(x, large_series(x)).first;
        return it->second;
    };
    run_large_hits(state, [&](std::int64_t k) { return memo(k); });
}
BENCHMARK(BM_LargeMemoBaselineHit)->Unit(benchmark::kMicrosecond);

void BM_LargeMemoryHit(benchmark::State& state) {
    cachier::options o;
    o.backend = cachier::memory_backend();
    auto f = cachier::cachier("bench.memory.large", large_series, o);
    run_large_hits(state, [&](std::int64_t k) { return f(k); });
}
BENCHMARK(BM_LargeMemoryHit)->Unit(benchmark::kMicrosecond);

// The same hits through shared(): the kept vector itself, no copy.
void BM_LargeMemorySharedHit(benchmark::State& state) {
    cachier::options o;
    o.backend = cachier::memory_backend();
    auto f = cachier::cachier("bench.memory.large_shared", large_series, o);
    run_large_hits(state, [&](std::int64_t k) { return f.shared(k); });
}
BENCHMARK(BM_LargeMemorySharedHit)->Unit(benchmark::kMicrosecond);

// Memory per entry: a fresh process (this program started again) stores 1,000,000 int64 -> int64
// values and reports how much its resident set grew, per entry.
constexpr std::int64_t rss_entries = 1'000'000;

// Each fill leaves its map in place (leaked: the process ends right after the measurement).
const bool resident_fills = add_resident_fill("memo",
                                              [] {
                                                  auto* memo = new hand_written_int_memo;
                                                  for (std::int64_t k = 0; k < rss_entries; ++k)
                                                      benchmark::DoNotOptimize((*memo)(k));
                                              }) &&
                            add_resident_fill("memory", [] {
                                cachier::options o;
                                o.backend = cachier::memory_backend();
                                auto* f = new auto(cachier::cachier("bench.memory.resident", work, o));
                                for (std::int64_t k = 0; k < rss_entries; ++k) benchmark::DoNotOptimize((*f)(k));
                            });

void run_resident_bytes_per_entry(benchmark::State& state, const std::string& fill) {
    double grown = 0;
    for (auto _ : state) grown = measure_resident_growth(fill);
    if (grown < 0) {
        state.SkipWithError("the measuring process failed");
        return;
    }
    state.counters["bytes_per_entry"] = grown / static_cast<double>(rss_entries);
}

void BM_IntMemoResidentBytesPerEntry(benchmark::State& state) { run_resident_bytes_per_entry(state, "memo"); }
BENCHMARK(BM_IntMemoResidentBytesPerEntry)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_IntMemoryResidentBytesPerEntry(benchmark::State& state) { run_resident_bytes_per_entry(state, "memory"); }
BENCHMARK(BM_IntMemoryResidentBytesPerEntry)->Iterations(1)->Unit(benchmark::kMillisecond);

const bool goals = add_goals({
    {"memory hit / hand-written memo hit (<= 1.5x)", "BM_MemoryHit", "BM_MemoBaselineHit", 0, 1.5, false, "ns"},
    {"int64 -> int64 memory hit / int memo hit (<= 2x)", "BM_IntMemoryHit", "BM_IntMemoBaselineHit", 0, 2.0, false, "ns"},
    {"memory hit with max_entries / without (<= 1.1x)", "BM_MemoryHitBounded", "BM_MemoryHit", 0, 1.1, false, "ns"},
    {"memory misses/s evicting at max_entries 1,000 / unbounded (no goal)", "BM_MemoryMissStreamEvicting/real_time",
     "BM_MemoryMissStream/real_time", 0, 0, true, "k/s"},
    {"memory hits/s, 2 threads / 1 thread (>= 1.8x)", "BM_MemoryHitThreads/real_time/threads:2",
     "BM_MemoryHitThreads/real_time/threads:1", 0, 1.8, true, "M/s"},
    {"private memos' hits/s, 2 threads / 1 (the machine, no goal)", "BM_PrivateMemoHitThreads/real_time/threads:2",
     "BM_PrivateMemoHitThreads/real_time/threads:1", 0, 0, true, "M/s"},
    {"1,000,000-double vector memory hit / memo hit (<= 1.5x)", "BM_LargeMemoryHit", "BM_LargeMemoBaselineHit", 0, 1.5,
     false, "us"},
    {"1,000,000-double vector, shared() hit / memo hit (no goal)", "BM_LargeMemorySharedHit",
     "BM_LargeMemoBaselineHit", 0, 0, false, "us"},
    {"resident bytes per int64 entry, memory / memo (<= 2x)", "BM_IntMemoryResidentBytesPerEntry/iterations:1",
     "BM_IntMemoResidentBytesPerEntry/iterations:1", 0, 2.0, false, "B"},
});

}  // namespace
