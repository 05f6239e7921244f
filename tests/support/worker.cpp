// A separate program the tests start as real processes:
//   worker compute <backend-url> <name> <arg> <sleep-ms> <log-file>
//       calls the cached function f(arg) once; f logs "computed <pid>" and "returning <ns>" lines,
//       sleeps, and returns arg * 2; the worker prints the result.
//   worker hang <backend-url> <name> <arg> <log-file>
//       f logs "started" and sleeps for an hour (the test kills it).
//   worker write <backend-url> <name> <first> <count> <shared-count>
//       stores count values (keys first..first+count-1) and shared-count keys 1e9.. (all writers).
//   worker miss <backend-url> <name> <first> <count> <max-entries | store:N>
//       calls f(first..first+count-1) with max_entries set (or the backend's store limit of N
//       values): a stream of misses to be bounded.
//   worker invalidate <backend-url> <name> <key>      removes the entry of f(key)
//   worker clear <backend-url> <name>                 removes every entry of f
//   worker early <backend-url> <name> <stale-after-ms> <run-ms> <log-file>
//       calls f(1) with early_refresh until run-ms have passed, a call a millisecond; f logs
//       "computed <pid>", takes 20 ms and returns a number that grows with each computation.
// Exit status 0 on success, 2 on bad usage, 3 on a wrong value, 4 when it cannot lower its priority,
// 5 when an early_refresh call was not a fresh hit.

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <unistd.h>

#include <cachier/cachier.hpp>

namespace {

void append_line(const std::string& file, const std::string& line) {
    std::ofstream out(file, std::ios::app);
    out << line << '\n';
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    const std::string mode = argv[1];
    cachier::options opts;
    if (argc > 2) opts.backend = cachier::backend_from_url(argv[2]);
    if (const char* lease = std::getenv("CACHIER_TEST_LEASE_MS")) opts.claim_lease = std::chrono::milliseconds(std::atoi(lease));
    if (mode == "compute" && argc == 7) {
        const std::string log = argv[6];
        const int sleep_ms = std::atoi(argv[5]);
        auto f = cachier::cachier(
            argv[3],
            [&](std::int64_t x) {
                append_line(log, "computed " + std::to_string(::getpid()));
                std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
                append_line(log, "returning " + std::to_string(now_ns()));
                return x * 2;
            },
            opts);
        const std::int64_t arg = std::atoll(argv[4]);
        const std::int64_t result = f(arg);
        std::printf("%lld\n", static_cast<long long>(result));
        return result == arg * 2 ? 0 : 3;
    }
    if (mode == "hang" && argc == 6) {
        const std::string log = argv[5];
        auto f = cachier::cachier(
            argv[3],
            [&](std::int64_t x) {
                append_line(log, "started " + std::to_string(::getpid()));
                std::this_thread::sleep_for(std::chrono::hours(1));
                return x;
            },
            opts);
        f(std::atoll(argv[4]));
        return 0;
    }
    if (mode == "write" && argc == 7) {
        auto f = cachier::cachier(argv[3], [](std::int64_t x) { return std::to_string(x); }, opts);
        const std::int64_t first = std::atoll(argv[4]);
        const std::int64_t count = std::atoll(argv[5]);
        const std::int64_t shared = std::atoll(argv[6]);
        for (std::int64_t i = 0; i < count; ++i) {
            f.precache_value(std::to_string(first + i), first + i);
            if (i < shared) f.precache_value(std::to_string(1000000000 + i), 1000000000 + i);
        }
        return 0;
    }
    if (mode == "miss" && argc == 7) {
        // Four of these run at once: at a lower priority, tests running beside them keep their timing.
        errno = 0;
        if (::nice(10) == -1 && errno != 0) return 4;
        const std::string limit = argv[6];
        if (limit.starts_with("store:"))
            opts.backend->set_store_limits({std::strtoull(limit.c_str() + 6, nullptr, 10), std::nullopt});
        else
            opts.max_entries = std::strtoull(limit.c_str(), nullptr, 10);
        auto f = cachier::cachier(argv[3], [](std::int64_t x) { return std::to_string(x); }, opts);
        const std::int64_t first = std::atoll(argv[4]);
        const std::int64_t count = std::atoll(argv[5]);
        for (std::int64_t i = first; i < first + count; ++i)
            if (f(i) != std::to_string(i)) return 3;
        cachier::wait_for_background_work();
        return 0;
    }
    if ((mode == "invalidate" && argc == 5) || (mode == "clear" && argc == 4)) {
        auto f = cachier::cachier(argv[3], [](std::int64_t x) { return std::to_string(x); }, opts);
        if (mode == "clear") f.clear_cache();
        else if (!f.invalidate(std::atoll(argv[4]))) return 3;
        return 0;
    }
    if (mode == "early" && argc == 7) {
        const std::string log = argv[6];
        opts.stale_after = std::chrono::milliseconds(std::atoi(argv[4]));
        opts.early_refresh = true;
        auto f = cachier::cachier(
            argv[3],
            [&](std::int64_t x) {
                append_line(log, "computed " + std::to_string(::getpid()));
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                return x + now_ns();
            },
            opts);
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::atoi(argv[5]));
        std::int64_t last = 0;
        while (std::chrono::steady_clock::now() < until) {
            const auto [value, status] = f.call_with_status({}, 1);
            if (status != cachier::call_status::fresh_hit) {
                std::printf("%s\n", std::string(cachier::to_string(status)).c_str());
                return 5;
            }
            if (value < last) return 3;
            last = value;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        cachier::wait_for_background_work();
        return 0;
    }
    return 2;
}
