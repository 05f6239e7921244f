// Your own backend in use: examples/custom_backend/map_backend.hpp, plugged into cachier like any
// built-in backend.

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <cachier/cachier.hpp>

#include "map_backend.hpp"

int slow_square(int x) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return x * x;
}

int main() {
    cachier::options opts;
    opts.backend = std::make_shared<example::map_backend>();
    opts.enable_metrics = true;
    auto square = cachier::cachier("examples.custom.square", slow_square, opts);
    for (int call = 1; call <= 2; ++call) {
        const auto start = std::chrono::steady_clock::now();
        const int value = square(12);
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::printf("call %d: %d (%.2f ms)\n", call, value, ms);
    }
    opts.backend->list_entries("examples.custom.square", [](const cachier::entry_info& e) {
        std::printf("entry %s...: %llu bytes\n", e.key.substr(0, 12).c_str(), static_cast<unsigned long long>(e.size));
        return true;
    });
    const auto m = square.metrics();
    std::printf("%s: hits=%llu misses=%llu\n", opts.backend->kind().data(), static_cast<unsigned long long>(m.hits),
                static_cast<unsigned long long>(m.misses));
    return m.hits == 1 && m.misses == 1 ? 0 : 1;
}
