#pragma once
// What the benchmark programs share: the function being cached, key sets, hit loops, scratch
// directories, and the goals. Each program registers its goals; at the end it prints each one as a
// ratio against a baseline measured in the same run (the median when --benchmark_repetitions is
// given) and exits non-zero when a goal is missed.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
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

/// A directory for one benchmark, removed when the program ends.
std::filesystem::path bench_dir(const std::string& name);

/// One goal: a measured benchmark against a baseline benchmark of the same run, or against a fixed
/// figure. `limit` 0 prints the ratio for information.
struct goal {
    std::string text;
    std::string measured;
    std::string baseline;        ///< a benchmark's name; empty: use fixed_baseline
    double fixed_baseline = 0;   ///< in `unit`
    double limit = 0;            ///< the ratio allowed (at most, or at least with at_least)
    bool at_least = false;       ///< true: per-second rates, where more is better
    const char* unit = "us";     ///< ns, us (times per call), M/s or k/s (items per second)
};

/// Registers this program's goals (at static initialization); returns true.
bool add_goals(std::vector<goal> goals);

}  // namespace cachier::bench
