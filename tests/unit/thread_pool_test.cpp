// The background pool (next_time refreshes, stale cleanup): bounded by CACHIER_MAX_WORKERS.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include "../support/test_support.hpp"
#include "thread_pool.hpp"

TEST(ThreadPool, MaxWorkersComesFromTheEnvironment) {
    ::unsetenv("CACHIER_MAX_WORKERS");
    EXPECT_EQ(cachier::detail::configured_max_workers(), 8U);
    ::setenv("CACHIER_MAX_WORKERS", "3", 1);
    EXPECT_EQ(cachier::detail::configured_max_workers(), 3U);
    cachier::test::log_capture logs;
    for (const char* bad : {"0", "many", "-2", "4x"}) {
        ::setenv("CACHIER_MAX_WORKERS", bad, 1);
        EXPECT_EQ(cachier::detail::configured_max_workers(), 8U) << bad;
    }
    EXPECT_TRUE(logs.contains("CACHIER_MAX_WORKERS", cachier::log_level::warning));
    ::unsetenv("CACHIER_MAX_WORKERS");
}

TEST(ThreadPool, NeverRunsMoreTasksAtOnceThanItsWorkers) {
    cachier::detail::thread_pool pool(2);
    std::atomic<int> running{0};
    std::atomic<int> most{0};
    std::atomic<int> done{0};
    for (int i = 0; i < 8; ++i) {
        pool.submit([&] {
            const int now = ++running;
            int seen = most.load();
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(30));
            --running;
            ++done;
        });
    }
    pool.wait_idle();
    EXPECT_EQ(done, 8);
    EXPECT_EQ(most, 2) << "the pool ran more tasks at once than its bound, or fewer than it allows";
}
