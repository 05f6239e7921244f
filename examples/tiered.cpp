// An in-process tier in front of a shared store: hits served from the process's memory, the store
// holding the truth for every process. Here the store is a file directory (give a Redis or
// PostgreSQL URL instead to hear other processes' changes at once).
// Usage: example_tiered <cache directory>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <cachier/cachier.hpp>

int main(int argc, char** argv) {
    using namespace std::chrono_literals;
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <cache directory>\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    cachier::options opts;
    // Values another process changes in the directory are seen within 200 ms.
    opts.backend = cachier::backend_from_url("tiered+file://" + dir + "?tier_max_age=200ms");
    opts.enable_metrics = true;

    int computed = 0;
    auto area = cachier::cachier(
        "examples.tiered.area",
        [&](double width, double height) {
            ++computed;
            std::this_thread::sleep_for(50ms);  // a slow computation
            return width * height;
        },
        opts);
    area.clear_cache();

    std::printf("area(3, 4) = %g\n", area(3, 4));  // computed, stored in the directory
    const auto started = std::chrono::steady_clock::now();
    double total = 0;
    for (int i = 0; i < 100000; ++i) total += area(3, 4);  // kept in the process: no file is read
    const auto per_hit = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - started) / 100000;
    std::printf("100,000 hits: %.0f ns each (sum %g)\n", per_hit.count(), total);

    // Another process (here: another backend object on the same directory) replaces the value.
    cachier::options elsewhere_opts;
    elsewhere_opts.backend = cachier::file_backend(dir);
    auto elsewhere = cachier::cachier("examples.tiered.area", [](double w, double h) { return w * h; }, elsewhere_opts);
    elsewhere.precache_value(12.5, 3, 4);
    std::this_thread::sleep_for(250ms);  // past tier_max_age: the kept value is read again
    std::printf("after another process stored 12.5: area(3, 4) = %g\n", area(3, 4));
    std::printf("computed %d time(s), hits %llu\n", computed, static_cast<unsigned long long>(area.metrics().hits));
    return computed == 1 && area(3, 4) == 12.5 ? 0 : 1;
}
