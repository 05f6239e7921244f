// Quick start: a slow function cached on the default file backend (~/.cachier).
// The first run computes (about 1 s); the second call and every later run read the cache.

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <cachier/cachier.hpp>

double slow_price(const std::string& sku, int quantity) {
    std::this_thread::sleep_for(std::chrono::seconds(1));  // stands for a slow computation or remote call
    return static_cast<double>(sku.size()) * 9.99 * quantity;
}

int main() {
    using namespace std::chrono_literals;
    cachier::options opts;
    opts.stale_after = 24h;  // recompute values older than a day
    auto price = cachier::cachier("quickstart.slow_price", slow_price, opts);

    for (int call = 1; call <= 2; ++call) {
        const auto start = std::chrono::steady_clock::now();
        const double value = price("A-42", 3);
        const auto took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
        std::printf("call %d: price = %.2f in %.3f ms\n", call, value, took.count());
    }
    std::printf("cache directory: %s\n", price.cache_dpath()->c_str());
}
