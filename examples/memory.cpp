// The in-process memory backend: a thread-safe memo with staleness, metrics and one computation
// per key even when many threads ask at once.

#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <cachier/cachier.hpp>

int main() {
    using namespace std::chrono_literals;
    cachier::options opts;
    opts.backend = cachier::memory_backend();
    opts.stale_after = 2s;
    opts.enable_metrics = true;

    auto fib = cachier::cachier(
        "examples.memory.slow_fib",
        [](int n) {
            std::this_thread::sleep_for(200ms);  // a slow computation
            long long a = 0, b = 1;
            for (int i = 0; i < n; ++i) b = std::exchange(a, b) + b;
            return a;
        },
        opts);

    // Eight threads ask for the same value at once: one computes, seven wait for its result.
    std::vector<std::future<long long>> callers;
    for (int i = 0; i < 8; ++i) callers.push_back(std::async(std::launch::async, [&] { return fib(80); }));
    for (auto& c : callers) c.get();
    std::printf("fib(80) = %lld\n", fib(80));

    // A large result, handed out by reference: hits return the kept vector itself, not a copy.
    auto table = cachier::cachier(
        "examples.memory.squares", [](int n) {
            std::vector<double> squares(static_cast<std::size_t>(n));
            for (int i = 0; i < n; ++i) squares[static_cast<std::size_t>(i)] = static_cast<double>(i) * i;
            return squares;
        },
        opts);
    const std::shared_ptr<const std::vector<double>> first = table.shared(1'000'000);
    const bool same = table.shared(1'000'000) == first;
    std::printf("squares: %zu values, second hit %s\n", first->size(), same ? "shared the kept vector" : "copied");

    const auto m = fib.metrics();
    std::printf("calls=%llu hits=%llu misses=%llu waits=%llu recalculations=%llu p50=%lldns\n",
                static_cast<unsigned long long>(m.calls), static_cast<unsigned long long>(m.hits),
                static_cast<unsigned long long>(m.misses), static_cast<unsigned long long>(m.waits),
                static_cast<unsigned long long>(m.recalculations), static_cast<long long>(m.latency_p50.count()));
    return m.recalculations == 1 && same ? 0 : 1;
}
