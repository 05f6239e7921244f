// The file backend in a directory of your choice, shared by every process that uses it.
// Run it twice: the second run finds the values stored by the first.
//   file /tmp/cachier-example

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <cachier/cachier.hpp>

struct report {
    std::string title;
    std::map<std::string, double> totals;
    template <class Archive>
    void serialize(Archive& ar) {  // makes the type storable
        ar(title, totals);
    }
};

report build_report(const std::string& region, const std::vector<int>& years) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    report r{"Sales in " + region, {}};
    for (int y : years) r.totals[std::to_string(y)] = y * 1.5;
    return r;
}

int main(int argc, char** argv) {
    using namespace std::chrono_literals;
    cachier::options opts;
    opts.backend = cachier::file_backend(argc > 1 ? argv[1] : "/tmp/cachier-example");
    opts.stale_after = 1h;
    opts.next_time = true;  // after an hour, serve the old report at once and refresh it in the background
    auto cached_report = cachier::cachier("examples.file.build_report", build_report, opts);

    const auto start = std::chrono::steady_clock::now();
    const report r = cached_report("EMEA", {2024, 2025});
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %zu years in %.2f ms\n", r.title.c_str(), r.totals.size(), ms);
    std::printf("entries live in %s\n", cached_report.cache_dpath()->c_str());

    // A large, repetitive result stored compressed (zstd level 3): any reader decodes it.
    cachier::options compressed = opts;
    compressed.compression = cachier::compression::zstd(3);
    auto cached_log = cachier::cachier("examples.file.daily_log", [](int day) {
        std::string log;
        for (int i = 0; i < 20000; ++i) log += "day " + std::to_string(day) + ": event " + std::to_string(i % 50) + " ok\n";
        return log;
    }, compressed);
    std::printf("log of day 7: %zu bytes\n", cached_log(7).size());
}
