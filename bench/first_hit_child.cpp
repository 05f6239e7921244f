// Started by cachier_bench_file as a new process: times its first cached call (a file-backend hit)
// and a second hit of the same entry, and prints both in nanoseconds. Usage: cachier_bench_first_hit_child <cache directory>

#include <chrono>
#include <cstdint>
#include <cstdio>

#include <cachier/cachier.hpp>

#include "bench_support.hpp"

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    using steady = std::chrono::steady_clock;
    cachier::options o;
    o.backend = cachier::file_backend(argv[1]);
    o.enable_metrics = true;  // to check that both calls were hits
    auto f = cachier::cachier("bench.first_hit", cachier::bench::work, o);
    const auto started = steady::now();
    const std::int64_t first = f(7);
    const auto between = steady::now();
    const std::int64_t second = f(7);
    const auto ended = steady::now();
    if (first != cachier::bench::work(7) || second != first || f.metrics().hits != 2) return 3;
    const auto ns = [](steady::duration d) { return static_cast<long long>(std::chrono::nanoseconds(d).count()); };
    std::printf("%lld %lld\n", ns(between - started), ns(ended - between));
    return 0;
}
