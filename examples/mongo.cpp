// The MongoDB backend: a cache in one collection of a MongoDB database, shared by every process and
// machine that reaches the server.
//   example_mongo [mongodb://host:port/database]   (default: $CACHIER_MONGO_URL, else mongodb://127.0.0.1:27017/cachier)
// Start two copies at once: one computes, the other waits for its result instead of computing again.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <cachier/cachier.hpp>

std::string shipping_quote(const std::string& destination, int kilograms) {
    std::this_thread::sleep_for(std::chrono::seconds(1));  // a slow remote call
    return destination + ": " + std::to_string(4.5 + kilograms * 1.25) + " EUR";
}

int main(int argc, char** argv) {
    using namespace std::chrono_literals;
    const char* env = std::getenv("CACHIER_MONGO_URL");
    const std::string url = argc > 1 ? argv[1] : env != nullptr ? env : "mongodb://127.0.0.1:27017/cachier";

    cachier::options opts;
    opts.backend = cachier::mongo_backend(url, "examples");  // the collection
    opts.stale_after = 10min;
    opts.enable_metrics = true;
    auto quote = cachier::cachier("examples.mongo.shipping_quote", shipping_quote, opts);

    for (int call = 1; call <= 2; ++call) {
        const auto start = std::chrono::steady_clock::now();
        const std::string text = quote("Lyon", 3);
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::printf("call %d: %s (%.2f ms)\n", call, text.c_str(), ms);
    }
    const auto m = quote.metrics();
    std::printf("hits=%llu misses=%llu backend_errors=%llu\n", static_cast<unsigned long long>(m.hits),
                static_cast<unsigned long long>(m.misses), static_cast<unsigned long long>(m.backend_errors));
    return m.backend_errors == 0 && m.hits == 1 ? 0 : 1;
}
