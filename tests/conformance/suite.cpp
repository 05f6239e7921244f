// The shared semantics, run against every backend.

#include "suite.hpp"

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <future>
#include <latch>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>


using namespace std::chrono_literals;
using testing::Each;
using testing::Eq;

namespace cachier::test {

void Conformance::SetUp() {
    reset_global_params();
    enable_caching();
    backend_ = GetParam().make(scratch_.path());
}

void Conformance::TearDown() {
    wait_for_background_work();
    reset_global_params();
    enable_caching();
}

options Conformance::base_options() const {
    options o;
    o.backend = backend_;
    return o;
}

std::string Conformance::fn_name(const std::string& suffix) const {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    return std::string("conformance.") + info->name() + suffix;
}

namespace {

/// A function that counts its calls and returns x * 10 + the call number.
struct counted {
    std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
    std::chrono::milliseconds delay{0};
    std::int64_t operator()(std::int64_t x) const {
        const int n = ++*calls;
        if (delay.count() > 0) std::this_thread::sleep_for(delay);
        return x * 10 + n;
    }
};

template <class R>
std::optional<R> within(std::future<R>& f, std::chrono::milliseconds timeout) {
    if (f.wait_for(timeout) != std::future_status::ready) return std::nullopt;
    return f.get();
}

}  // namespace

TEST_P(Conformance, FreshHitReturnsStoredValueWithoutCalling) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    EXPECT_EQ(f(4), 41);
    EXPECT_EQ(f(4), 41);
    EXPECT_EQ(*fn.calls, 1);
}

TEST_P(Conformance, DistinctArgumentsHaveDistinctEntries) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    EXPECT_EQ(f(1), 11);
    EXPECT_EQ(f(2), 22);
    EXPECT_EQ(f(1), 11);
    EXPECT_EQ(*fn.calls, 2);
}

TEST_P(Conformance, SameNameSharesEntriesAcrossWrappers) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    auto g = cachier::cachier(fn_name(), fn, base_options());
    auto other = cachier::cachier(fn_name("_x"), fn, base_options());
    EXPECT_EQ(f(3), 31);
    EXPECT_EQ(g(3), 31);
    EXPECT_EQ(other(3), 32);
}

TEST_P(Conformance, StaleValueIsRecomputed) {
    counted fn;
    auto o = base_options();
    o.stale_after = 100ms;
    auto f = cachier::cachier(fn_name(), fn, o);
    EXPECT_EQ(f(1), 11);
    EXPECT_EQ(f(1), 11);
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(f(1), 12);
    EXPECT_EQ(f(1), 12);
}

TEST_P(Conformance, MaxAgeIsTheStricterLimitAndNegativeMeansStale) {
    counted fn;
    auto o = base_options();
    o.stale_after = 1h;
    auto f = cachier::cachier(fn_name(), fn, o);
    EXPECT_EQ(f(1), 11);
    std::this_thread::sleep_for(60ms);
    call_options loose;
    loose.max_age = 10h;  // looser than stale_after: stale_after wins, value is fresh
    EXPECT_EQ(f.call(loose, 1), 11);
    call_options strict;
    strict.max_age = 30ms;
    EXPECT_EQ(f.call(strict, 1), 12);
    call_options negative;
    negative.max_age = -1s;
    EXPECT_EQ(f.call(negative, 1), 13);
    EXPECT_EQ(f(1), 13);
}

TEST_P(Conformance, NextTimeReturnsStaleAtOnceAndRefreshesOnceInBackground) {
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto fn = [calls](std::int64_t x) {
        const int n = ++*calls;
        // The refresh is slow: callers must not wait for it. Slow enough that callers on a slow
        // server under a sanitizer still return well before it ends.
        if (n > 1) std::this_thread::sleep_for(1s);
        return x * 10 + n;
    };
    auto o = base_options();
    // Long enough that the refreshed value is still fresh for any refresh queued as the first ends,
    // even when that refresh starts late (a slow server under a sanitizer).
    o.stale_after = 1200ms;
    o.next_time = true;
    auto f = cachier::cachier(fn_name(), fn, o);
    EXPECT_EQ(f(1), 11);
    std::this_thread::sleep_for(1250ms);
    calls->store(100);  // the refresh will return 1 * 10 + 101
    std::vector<std::future<std::int64_t>> callers;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 6; ++i) callers.push_back(std::async(std::launch::async, [&] { return f(1); }));
    for (auto& c : callers) EXPECT_EQ(c.get(), 11) << "stale value expected at once";
    EXPECT_LT(std::chrono::steady_clock::now() - started, 800ms) << "callers waited for the refresh";
    ASSERT_TRUE(eventually([&] { return f(1) == 111; }, 5s)) << "background refresh never stored";
    wait_for_background_work();
    EXPECT_EQ(*calls, 101) << "exactly one background refresh";
}

TEST_P(Conformance, ConcurrentMissIsComputedByOneCaller) {
    counted fn;
    fn.delay = 200ms;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    std::vector<std::future<std::int64_t>> callers;
    for (int i = 0; i < 8; ++i) callers.push_back(std::async(std::launch::async, [&] { return f(5); }));
    std::vector<std::int64_t> results;
    for (auto& c : callers) results.push_back(c.get());
    EXPECT_THAT(results, Each(Eq(51)));
    EXPECT_EQ(*fn.calls, 1);
}

TEST_P(Conformance, WaiterReturnsWithin20msOfTheStore) {
    std::atomic<std::int64_t> returned_at{0};
    auto o = base_options();
    auto f = cachier::cachier(
        fn_name(),
        [&](int x) {
            std::this_thread::sleep_for(300ms);
            returned_at = wall_clock_ns();
            return x;
        },
        o);
    auto computing = std::async(std::launch::async, [&] { return f(1); });
    std::this_thread::sleep_for(50ms);
    auto waiting = std::async(std::launch::async, [&] {
        f(1);
        return wall_clock_ns();
    });
    const std::int64_t waiter_done = waiting.get();
    computing.get();
    EXPECT_LT(waiter_done - returned_at.load(), std::chrono::nanoseconds(20ms).count());
}

TEST_P(Conformance, WaitTimeoutLetsTheWaiterComputeItself) {
    counted slow;
    slow.delay = 1500ms;
    auto o = base_options();
    o.wait_for_calc_timeout = 100ms;
    o.enable_metrics = true;
    auto f = cachier::cachier(fn_name(), slow, o);
    auto computing = std::async(std::launch::async, [&] { return f(2); });
    std::this_thread::sleep_for(100ms);
    const auto started = std::chrono::steady_clock::now();
    auto waiter = std::async(std::launch::async, [&] { return f(2); });
    const auto result = within(waiter, 5s);
    ASSERT_TRUE(result.has_value());
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1400ms + 500ms);
    computing.get();
    EXPECT_EQ(*slow.calls, 2);
    EXPECT_EQ(f.metrics().wait_timeouts, 1U);
}

TEST_P(Conformance, CallerWithoutNextTimeWaitsForTheRecomputedValue) {
    std::atomic<int> version{1};
    auto o = base_options();
    o.stale_after = 100ms;
    auto f = cachier::cachier(
        fn_name(),
        [&](int) {
            const int v = version.load();
            if (v > 1) std::this_thread::sleep_for(300ms);
            return v;
        },
        o);
    EXPECT_EQ(f(1), 1);
    std::this_thread::sleep_for(150ms);
    version = 2;
    auto recomputing = std::async(std::launch::async, [&] { return f(1); });
    std::this_thread::sleep_for(80ms);
    auto other = std::async(std::launch::async, [&] { return f(1); });
    EXPECT_EQ(recomputing.get(), 2);
    EXPECT_EQ(other.get(), 2) << "a stale value was served as fresh while it was being recomputed";
}

TEST_P(Conformance, ThrowingFunctionStoresNothingAndLeavesNoMark) {
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        fn_name(),
        [&](int x) {
            if (++calls == 1) throw std::runtime_error("boom");
            return x;
        },
        base_options());
    EXPECT_THROW(f(7), std::runtime_error);
    // wait_for_calc_timeout is 0 (wait forever): a leftover mark would block this call.
    auto next = std::async(std::launch::async, [&] { return f(7); });
    const auto result = within(next, 5s);
    ASSERT_TRUE(result.has_value()) << "a claim was left behind by the throwing call";
    EXPECT_EQ(*result, 7);
    EXPECT_EQ(f(7), 7);
    EXPECT_EQ(calls, 2);
}

TEST_P(Conformance, EmptyResultsAreCachedOnlyWithAllowNone) {
    std::atomic<int> calls{0};
    auto fn = [&](int) -> std::optional<int> {
        ++calls;
        return std::nullopt;
    };
    auto no_none = cachier::cachier(fn_name(), fn, base_options());
    EXPECT_EQ(no_none(1), std::nullopt);
    EXPECT_EQ(no_none(1), std::nullopt);
    EXPECT_EQ(calls, 2);

    auto o = base_options();
    o.allow_none = true;
    auto with_none = cachier::cachier(fn_name("_none"), fn, o);
    calls = 0;
    EXPECT_EQ(with_none(1), std::nullopt);
    EXPECT_EQ(with_none(1), std::nullopt);
    EXPECT_EQ(calls, 1);
}

TEST_P(Conformance, SkipCacheAndOverwriteCache) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    EXPECT_EQ(f(1), 11);
    call_options skip;
    skip.skip_cache = true;
    EXPECT_EQ(f.call(skip, 1), 12);
    EXPECT_EQ(f(1), 11) << "skip_cache must not store";
    call_options overwrite;
    overwrite.overwrite_cache = true;
    EXPECT_EQ(f.call(overwrite, 1), 13);
    EXPECT_EQ(f(1), 13);
}

TEST_P(Conformance, PrecacheValueIsReturnedWithoutCalling) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    f.precache_value(999, 4);
    EXPECT_EQ(f(4), 999);
    EXPECT_EQ(*fn.calls, 0);
}

TEST_P(Conformance, ClearCacheDropsOnlyThisFunctionsEntries) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    auto f_x = cachier::cachier(fn_name("_x"), fn, base_options());
    EXPECT_EQ(f(1), 11);
    EXPECT_EQ(f_x(1), 12);
    f.clear_cache();
    EXPECT_EQ(f(1), 13);
    EXPECT_EQ(f_x(1), 12);
}

TEST_P(Conformance, ClearBeingCalculatedReleasesAStuckComputation) {
    std::latch entered(1);
    std::promise<void> release;
    auto released = release.get_future().share();
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        fn_name(),
        [&](int x) {
            if (++calls == 1) {
                entered.count_down();
                released.wait();
                return -1;
            }
            return x;
        },
        base_options());
    auto stuck = std::async(std::launch::async, [&] { return f(3); });
    entered.wait();
    f.clear_being_calculated();
    auto next = std::async(std::launch::async, [&] { return f(3); });
    const auto result = within(next, 5s);
    release.set_value();
    stuck.get();
    ASSERT_TRUE(result.has_value()) << "the mark was not cleared";
    EXPECT_EQ(*result, 3);
}

TEST_P(Conformance, EntrySizeLimitReturnsButDoesNotStoreLargeValues) {
    std::atomic<int> calls{0};
    auto o = base_options();
    o.entry_size_limit = "1KB";
    o.enable_metrics = true;
    auto f = cachier::cachier(
        fn_name(),
        [&](std::size_t n) {
            ++calls;
            return std::string(n, 'x');
        },
        o);
    EXPECT_EQ(f(2000).size(), 2000U);
    EXPECT_EQ(f(2000).size(), 2000U);
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(f(10).size(), 10U);
    EXPECT_EQ(f(10).size(), 10U);
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(f.metrics().size_limit_rejections, 2U);
}

TEST_P(Conformance, DisabledCachingCallsStraightThrough) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    EXPECT_EQ(f(1), 11);
    disable_caching();
    EXPECT_FALSE(caching_enabled());
    EXPECT_EQ(f(1), 12);
    EXPECT_EQ(f(1), 13);
    enable_caching();
    EXPECT_EQ(f(1), 11);
}

TEST_P(Conformance, MetricsCountHitsMissesAndLatency) {
    counted fn;
    auto o = base_options();
    o.enable_metrics = true;
    auto f = cachier::cachier(fn_name(), fn, o);
    f(1);
    f(1);
    f(1);
    f(2);
    const auto m = f.metrics();
    EXPECT_EQ(m.calls, 4U);
    EXPECT_EQ(m.hits, 2U);
    EXPECT_EQ(m.misses, 2U);
    EXPECT_EQ(m.recalculations, 2U);
    EXPECT_EQ(m.latency_samples, 4U);
    EXPECT_GT(m.latency_p99.count(), 0);
    EXPECT_LE(m.latency_p50, m.latency_p99);
    EXPECT_DOUBLE_EQ(m.hit_rate(), 0.5);
    ASSERT_TRUE(m.entry_count.has_value());
    EXPECT_EQ(*m.entry_count, 2U);

    auto quiet = cachier::cachier(fn_name("_off"), fn, base_options());
    quiet(1);
    EXPECT_EQ(quiet.metrics().calls, 0U) << "metrics are off by default";
}

TEST_P(Conformance, StaleEntriesAreCleanedUpInTheBackground) {
    counted fn;
    auto o = base_options();
    o.stale_after = 400ms;  // five misses must be stored before the first goes stale (S3 under tsan: ~200 ms)
    o.cleanup_stale = true;
    o.cleanup_interval = 10ms;
    o.enable_metrics = true;
    auto f = cachier::cachier(fn_name(), fn, o);
    for (int i = 0; i < 5; ++i) f(i);
    ASSERT_EQ(f.metrics().entry_count.value_or(0), 5U);
    std::this_thread::sleep_for(450ms);
    f(100);  // triggers a cleanup, then stores one fresh entry
    wait_for_background_work();
    EXPECT_TRUE(eventually([&] { return f.metrics().entry_count.value_or(99) <= 1; }, 3s));
}

TEST_P(Conformance, GlobalParamsApplyAtCallTime) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    EXPECT_EQ(f(1), 11);
    std::this_thread::sleep_for(60ms);
    EXPECT_EQ(f(1), 11);
    options global;
    global.stale_after = 30ms;
    set_global_params(global);
    EXPECT_EQ(f(1), 12) << "the new global stale_after was not used";
}

TEST_P(Conformance, VerboseCallsExplainTheirDecisions) {
    log_capture logs;
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    call_options verbose;
    verbose.verbose = true;
    f.call(verbose, 1);
    f.call(verbose, 1);
    EXPECT_TRUE(logs.contains("miss: computing"));
    EXPECT_TRUE(logs.contains("fresh hit"));
}

// ---- fork() ----

namespace {

/// What a forked child checks; returns 0 when everything worked, else the number of the failed check.
template <class F>
int child_checks(F& f, const counted& fn) {
    const int before = *fn.calls;
    if (f(2) != 20 + before + 1) return 1;  // a miss computes here
    if (f(2) != 20 + before + 1 || *fn.calls != before + 1) return 2;  // and is stored
    // Two threads of the child on one cold key: one computes, the other waits for it.
    auto first = std::async(std::launch::async, [&] { return f(3); });
    auto second = std::async(std::launch::async, [&] { return f(3); });
    if (first.get() != second.get() || *fn.calls != before + 2) return 3;
    // A stale value is served at once and refreshed by the child's background pool.
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    if (f(2) != 20 + before + 1) return 4;
    if (!eventually([&] { return f(2) != 20 + before + 1; }, std::chrono::seconds(5))) return 5;
    return 0;
}

}  // namespace

TEST_P(Conformance, ForkedChildKeepsWorking) {
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer cannot follow threads started after a multi-threaded fork() (it fails with
    // "dup thread with used id"); the asan and default presets run this test.
    GTEST_SKIP() << "ThreadSanitizer does not support threads started after fork()";
#endif
    counted fn;
    fn.delay = 100ms;
    auto o = base_options();
    o.stale_after = 300ms;
    o.next_time = true;
    o.enable_metrics = true;
    auto f = cachier::cachier(fn_name(), fn, o);
    // Start every piece of background machinery in the parent: a waiter (which watches the
    // function), claims renewed by the keeper, and a background refresh on the pool.
    auto computing = std::async(std::launch::async, [&] { return f(1); });
    std::this_thread::sleep_for(30ms);
    EXPECT_EQ(f(1), computing.get());
    std::this_thread::sleep_for(350ms);
    f(1);
    wait_for_background_work();

    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) ::_exit(child_checks(f, fn));
    int status = 0;
    const bool ended = eventually([&] { return ::waitpid(child, &status, WNOHANG) == child; }, 30s);
    if (!ended) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
    }
    ASSERT_TRUE(ended) << "the forked child hung";
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "check " << WEXITSTATUS(status) << " failed in the child";

    // The parent's connections and threads were left alone.
    const int calls = *fn.calls;
    EXPECT_EQ(f(100), 1000 + calls + 1);
    EXPECT_EQ(f(100), 1000 + calls + 1);
    EXPECT_EQ(f.metrics().backend_errors, 0U);
}

// ---- Across processes (backends whose storage other processes can reach) ----

TEST_P(Conformance, ProcessesRacingOnAColdKeyComputeItOnce) {
    if (!shared_between_processes()) GTEST_SKIP() << "storage is private to one process";
    const auto log = scratch_.path() / "calls.log";
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < 4; ++i)
        workers.push_back(std::make_unique<worker_process>(
            std::vector<std::string>{"compute", url(), fn_name(), "21", "300", log.string()}));
    for (auto& w : workers) EXPECT_EQ(w->wait(), 0);
    const auto lines = read_lines(log);
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("computed", 0) == 0; }),
              1);
}

TEST_P(Conformance, ClaimOfAKilledProcessStopsBlockingWithinTheLease) {
    if (!shared_between_processes()) GTEST_SKIP() << "storage is private to one process";
    const auto log = scratch_.path() / "hang.log";
    // Leased backends: a 3 s lease (the default is 10 s) keeps the test short; flock needs none.
    ::setenv("CACHIER_TEST_LEASE_MS", "3000", 1);
    worker_process hanging({"hang", url(), fn_name(), "5", log.string()});
    ::unsetenv("CACHIER_TEST_LEASE_MS");
    ASSERT_TRUE(eventually([&] { return !read_lines(log).empty(); }, 10s)) << "worker never started computing";
    hanging.kill_hard();
    auto o = base_options();  // wait_for_calc_timeout = 0: wait forever for a live claim
    auto f = cachier::cachier(fn_name(), [](std::int64_t x) { return x * 2; }, o);
    const auto started = std::chrono::steady_clock::now();
    auto call = std::async(std::launch::async, [&] { return f(5); });
    const auto result = within(call, 15s);
    ASSERT_TRUE(result.has_value()) << "the dead process's claim still blocks";
    EXPECT_EQ(*result, 10);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

TEST_P(Conformance, WaiterInAnotherProcessWakesPromptlyAfterTheStore) {
    if (!shared_between_processes()) GTEST_SKIP() << "storage is private to one process";
    auto f = cachier::cachier(fn_name(), [](std::int64_t x) { return x * 2; }, base_options());
    const std::int64_t delay = median_wake_up_delay_ns(f);
    EXPECT_GE(delay, 0) << "the other process did not compute";
    EXPECT_LT(delay, wake_up_bound().count()) << "median wake-up delay too long";
}

TEST_P(Conformance, ConcurrentWriterProcessesLoseNothing) {
    if (!shared_between_processes()) GTEST_SKIP() << "storage is private to one process";
    constexpr int writers = 4;
    constexpr int per_writer = 150;
    constexpr int shared = 50;
    std::vector<std::unique_ptr<worker_process>> procs;
    for (int w = 0; w < writers; ++w)
        procs.push_back(std::make_unique<worker_process>(std::vector<std::string>{
            "write", url(), fn_name(), std::to_string(w * 10000), std::to_string(per_writer), std::to_string(shared)}));
    for (auto& p : procs) ASSERT_EQ(p->wait(), 0);
    std::atomic<int> computed{0};
    auto f = cachier::cachier(
        fn_name(),
        [&](std::int64_t x) {
            ++computed;
            return std::to_string(x);
        },
        base_options());
    for (int w = 0; w < writers; ++w)
        for (int i = 0; i < per_writer; ++i) EXPECT_EQ(f(w * 10000 + i), std::to_string(w * 10000 + i));
    for (int i = 0; i < shared; ++i) EXPECT_EQ(f(1000000000 + i), std::to_string(1000000000 + i));
    EXPECT_EQ(computed, 0) << "entries written by other processes were lost";
}

}  // namespace cachier::test
