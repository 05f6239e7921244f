// The Redis backend: a cache shared by every process and machine that reaches the server.
//   example_redis [redis://host:port/db]      (default: $CACHIER_REDIS_URL, else redis://127.0.0.1:6379/0)
// Start two copies at once: one computes, the other waits for its result instead of computing again.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <cachier/cachier.hpp>

std::string exchange_rate_report(const std::string& currency) {
    std::this_thread::sleep_for(std::chrono::seconds(1));  // a slow remote call
    return "1 EUR = " + std::to_string(currency.size() * 0.37) + " " + currency;
}

int main(int argc, char** argv) {
    using namespace std::chrono_literals;
    const char* env = std::getenv("CACHIER_REDIS_URL");
    const std::string url = argc > 1 ? argv[1] : env != nullptr ? env : "redis://127.0.0.1:6379/0";

    cachier::options opts;
    opts.backend = cachier::backend_from_url(url + (url.find('?') == std::string::npos ? "?" : "&") +
                                             "prefix=examples");
    opts.stale_after = 10min;
    opts.enable_metrics = true;
    auto report = cachier::cachier("examples.redis.exchange_rate_report", exchange_rate_report, opts);

    for (int call = 1; call <= 2; ++call) {
        const auto start = std::chrono::steady_clock::now();
        const std::string text = report("USD");
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::printf("call %d: %s (%.2f ms)\n", call, text.c_str(), ms);
    }
    const auto m = report.metrics();
    std::printf("hits=%llu misses=%llu backend_errors=%llu\n", static_cast<unsigned long long>(m.hits),
                static_cast<unsigned long long>(m.misses), static_cast<unsigned long long>(m.backend_errors));
    return m.backend_errors == 0 ? 0 : 1;
}
