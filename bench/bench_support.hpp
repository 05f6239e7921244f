#pragma once
// What the benchmark programs share: the function being cached, key sets, hit loops, scratch
// directories, and the goals. Each program registers its goals; at the end it prints each one as a
// ratio against a baseline measured in the same run (the median when --benchmark_repetitions is
// given) and exits non-zero when a goal is missed.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <cachier/cachier.hpp>

namespace cachier::bench {

inline constexpr std::int64_t key_count = 1024;

/// The function being cached: cheap, so that the benchmarks measure the caches.
inline std::int64_t work(std::int64_t x) { return x * 2654435761LL % 1000003; }

/// A key no benchmark of this process has used yet, so that every call of a miss benchmark misses,
/// in every repetition.
std::int64_t next_cold_key();

/// What people cache: a string and a number in, a double out (the quickstart's slow_price).
inline double price(const std::string& sku, int quantity) {
    return static_cast<double>(sku.size()) * 9.99 * quantity;
}

/// 2 * key_count distinct SKUs.
const std::vector<std::string>& skus();

/// price() cached on `store` under `name`, with every SKU stored.
inline auto cached_price_on(std::shared_ptr<cachier::backend> store, const std::string& name) {
    cachier::options o;
    o.backend = std::move(store);
    auto f = cachier::cachier(name, price, o);
    for (const auto& sku : skus()) f(sku, 3);
    return f;
}

/// The result of the large-value benchmarks: a std::string of `size` bytes.
inline std::string large_value(std::int64_t size) { return std::string(static_cast<std::size_t>(size), 'v'); }

/// The size of the large values the database benchmarks read: 1 MB.
inline constexpr std::int64_t database_value_size = 1'000'000;

/// large_value cached on `store` under `name`, with its value of `size` bytes stored.
inline auto cached_large_value_on(std::shared_ptr<cachier::backend> store, const std::string& name,
                                  std::int64_t size = database_value_size) {
    cachier::options o;
    o.backend = std::move(store);
    auto f = cachier::cachier(name, large_value, o);
    benchmark::DoNotOptimize(f(size));
    return f;
}

/// Makes glibc serve the 1 MB buffers of the database benchmarks from its heap, on both sides of a
/// comparison: by default a freed buffer of that size may be unmapped or trimmed and the next one
/// mapped again, page by page, so that which side pays those page faults depends on the order of
/// allocations, not on the code measured. Returns true (for a static initializer).
bool keep_large_buffers_on_the_heap();

/// Hits of `f` (from cached_large_value_on) on its value of `size` bytes.
template <class F>
void run_large_value_hits(benchmark::State& state, F& f, std::int64_t size = database_value_size) {
    for (auto _ : state) benchmark::DoNotOptimize(f(size));
    state.SetBytesProcessed(state.iterations() * size);
}

/// Hits of the price function on the memory backend: the baseline of tiered hits, measured in the
/// same program.
void BM_MemoryHitBaseline(benchmark::State& state);

/// Hits of the price function on `shared` behind an in-process tier (tiered_backend).
void run_tiered_price_hits(benchmark::State& state, std::shared_ptr<cachier::backend> shared, const std::string& name);

/// Hits on the price keys first .. first + key_count - 1, in turn.
template <class F>
void run_price_hits(benchmark::State& state, F& f, std::size_t first = 0) {
    std::size_t k = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(f(skus()[first + k], 3));
        k = (k + 1) % key_count;
    }
}

/// Hits per second from 1 or 2 threads on one cached function, which thread 0 makes; each thread
/// uses its own keys. `make` must store all 2 * key_count price keys.
template <class Make>
void run_threaded_price_hits(benchmark::State& state, Make make) {
    static std::optional<decltype(make())> shared;  // one per call site: each lambda is its own type
    if (state.thread_index() == 0) shared.emplace(make());
    run_price_hits(state, *shared, static_cast<std::size_t>(state.thread_index()) * key_count);
    state.SetItemsProcessed(state.iterations());
}

/// A function that takes 3 seconds, cached on `o.backend` under one name for every waiter benchmark.
inline auto three_second_function(const std::string& name, cachier::options o) {
    return cachier::cachier(
        name,
        [](std::int64_t x) {
            std::this_thread::sleep_for(std::chrono::seconds(3));
            return x;
        },
        std::move(o));
}

/// One wait per iteration: `elsewhere` (with a backend of its own, as another process would have)
/// computes a cold key on a thread while `waiter` waits for it, and `count_requests(wait)` runs the
/// wait and returns how many requests the server counted during it. Reports items_per_second (the
/// requests per second of the wait) and after_store_ms (how long after the store the waiter returned).
template <class F, class Count>
void run_waits(benchmark::State& state, F& waiter, F& elsewhere, Count count_requests) {
    using steady = std::chrono::steady_clock;
    double per_second = 0;
    double after_store_ms = 0;
    for (auto _ : state) {
        const std::int64_t key = next_cold_key();
        steady::time_point stored;
        std::thread computing([&] {
            benchmark::DoNotOptimize(elsewhere(key));
            stored = steady::now();
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // its claim is taken
        steady::time_point start;
        steady::time_point done;
        const std::size_t requests = count_requests([&] {
            start = steady::now();
            benchmark::DoNotOptimize(waiter(key));
            done = steady::now();
        });
        computing.join();
        per_second = static_cast<double>(requests) / std::chrono::duration<double>(done - start).count();
        after_store_ms = std::chrono::duration<double, std::milli>(done - stored).count();
    }
    state.counters["items_per_second"] = per_second;
    state.counters["after_store_ms"] = after_store_ms;
}

/// A directory for one benchmark, removed when the program ends.
std::filesystem::path bench_dir(const std::string& name);

/// In a fill started by measure_fill: the bench_dir `name` of the program that started it.
std::filesystem::path parent_bench_dir(const std::string& name);

/// One goal: a measured benchmark against a baseline benchmark of the same run, or against a fixed
/// figure. `limit` 0 prints the ratio for information.
struct goal {
    std::string text;
    std::string measured;
    std::string baseline;        ///< a benchmark's name; empty: use fixed_baseline
    double fixed_baseline = 0;   ///< in `unit`
    double limit = 0;            ///< the ratio allowed (at most, or at least with at_least)
    bool at_least = false;       ///< true: per-second rates, where more is better
    const char* unit = "us";     ///< ns, us (times per call), M/s or k/s (items per second), B (counters bytes_per_entry or peak_bytes)
};

/// Registers this program's goals (at static initialization); returns true.
bool add_goals(std::vector<goal> goals);

/// Registers `fill` under `name` (at static initialization) for measure_fill; returns true.
bool add_resident_fill(std::string name, std::function<void()> fill);

/// How much a fill made the resident set grow, in bytes: what it holds at the end, and its peak.
struct resident_growth {
    double resident = 0;  ///< growth of the resident set
    double peak = 0;      ///< growth of its high-water mark (VmHWM): what the fill held at the most
};

/// Starts this program again to run only the fill registered as `name`, in a fresh process with
/// nothing else on its heap, and returns how its resident set grew; negative figures on failure.
resident_growth measure_fill(const std::string& name);

/// measure_fill(name).resident.
double measure_resident_growth(const std::string& name);

}  // namespace cachier::bench
