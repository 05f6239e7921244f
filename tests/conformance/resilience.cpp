// Failing safe, run against every backend: stale_if_error serves the last good value when the
// function throws, and early_refresh renews a value before it goes stale, once across threads and
// processes.

#include <algorithm>
#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gmock/gmock.h>

#include "suite.hpp"

using namespace std::chrono_literals;

namespace cachier::test {
namespace {

/// A source that can be switched off: it then throws, as a failing upstream service would.
struct flaky_source {
    std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<bool>> failing = std::make_shared<std::atomic<bool>>(false);
    std::int64_t operator()(std::int64_t x) const {
        const int n = ++*calls;
        if (*failing) throw std::runtime_error("source unavailable");
        return x * 10 + n;
    }
};

}  // namespace

// A string result: read straight into its own buffer where the backend can (split_reader.hpp),
// and still served when the function throws.
TEST_P(Conformance, StaleIfErrorServesAStoredString) {
    auto failing = std::make_shared<bool>(false);
    auto o = base_options();
    o.stale_after = 100ms;
    o.stale_if_error = 1h;
    auto f = cachier::cachier(fn_name(), [failing](std::int64_t size) {
        if (*failing) throw std::runtime_error("source unavailable");
        return std::string(static_cast<std::size_t>(size), 's');
    }, o);
    EXPECT_EQ(f(20'000), std::string(20'000, 's'));
    std::this_thread::sleep_for(150ms);
    *failing = true;
    const auto [value, status] = f.call_with_status({}, 20'000);
    EXPECT_EQ(value, std::string(20'000, 's'));
    EXPECT_EQ(status, call_status::stale_on_error);
}

TEST_P(Conformance, StaleIfErrorServesTheStoredValueWhenTheFunctionThrows) {
    flaky_source source;
    auto o = base_options();
    o.stale_after = 100ms;
    o.stale_if_error = 1h;
    o.enable_metrics = true;
    auto f = cachier::cachier(fn_name(), source, o);
    EXPECT_EQ(f(1), 11);
    std::this_thread::sleep_for(150ms);

    *source.failing = true;
    const auto [value, status] = f.call_with_status({}, 1);
    EXPECT_EQ(value, 11) << "the stored value is served when the function throws";
    EXPECT_EQ(status, call_status::stale_on_error);
    EXPECT_EQ(f(1), 11);
    const metrics_snapshot m = f.metrics();
    EXPECT_EQ(m.function_errors, 2U);
    EXPECT_EQ(m.stale_if_error_hits, 2U);
    EXPECT_EQ(f.peek(1), std::nullopt) << "nothing was stored: the value is still stale";

    // No claim was left behind: once the source is back, the next call computes without waiting.
    *source.failing = false;
    auto next = std::async(std::launch::async, [&] { return f.call_with_status({}, 1); });
    ASSERT_EQ(next.wait_for(5s), std::future_status::ready) << "a claim was left behind by a failed refresh";
    const auto recomputed = next.get();
    EXPECT_EQ(recomputed.value, 14);
    EXPECT_EQ(recomputed.status, call_status::computed);
    EXPECT_EQ(f(1), 14);
}

TEST_P(Conformance, StaleIfErrorLetsTheErrorThroughOnAMissOrPastItsBound) {
    flaky_source source;
    auto o = base_options();
    o.stale_after = 50ms;
    o.stale_if_error = 200ms;
    auto f = cachier::cachier(fn_name(), source, o);
    EXPECT_EQ(f(1), 11);
    *source.failing = true;
    EXPECT_THROW(f(2), std::runtime_error) << "a miss has no value to serve";
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(f(1), 11) << "100 ms old: within stale_if_error";
    std::this_thread::sleep_for(200ms);
    EXPECT_THROW(f(1), std::runtime_error) << "300 ms old: past stale_if_error";

    auto without = base_options();
    without.stale_after = 50ms;
    auto g = cachier::cachier(fn_name("off"), source, without);
    *source.failing = false;
    EXPECT_GT(g(1), 0);
    std::this_thread::sleep_for(100ms);
    *source.failing = true;
    EXPECT_THROW(g(1), std::runtime_error) << "stale_if_error is off by default";
}

TEST_P(Conformance, EarlyRefreshKeepsConcurrentCallersOnFreshHitsWithOneRefresh) {
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto fn = [calls](std::int64_t x) {
        const int n = ++*calls;
        std::this_thread::sleep_for(20ms);
        return x * 100 + n;
    };
    auto o = base_options();
    o.stale_after = 1500ms;
    o.early_refresh = true;
    o.enable_metrics = true;
    auto f = cachier::cachier(fn_name(), fn, o);
    ASSERT_EQ(f(1), 101);
    const auto until = std::chrono::steady_clock::now() + 1800ms;
    std::vector<std::future<std::vector<std::string>>> callers;
    for (int t = 0; t < 3; ++t) {
        callers.push_back(std::async(std::launch::async, [&] {
            std::vector<std::string> problems;
            std::int64_t last = 0;
            while (std::chrono::steady_clock::now() < until) {
                const auto [value, status] = f.call_with_status({}, 1);
                if (status != call_status::fresh_hit) problems.push_back(std::string(to_string(status)));
                if (value < last) problems.push_back("went back to an older value");
                last = value;
                std::this_thread::sleep_for(1ms);
            }
            return problems;
        }));
    }
    for (auto& c : callers) EXPECT_THAT(c.get(), testing::IsEmpty()) << "every call must be a fresh hit";
    wait_for_background_work();
    EXPECT_EQ(*calls, 2) << "exactly one early refresh in 1.8 s of a 1.5 s lifetime";
    EXPECT_EQ(f(1), 102);
    EXPECT_EQ(f.metrics().background_refreshes, 1U);
}

TEST_P(Conformance, EarlyRefreshByManyProcessesRefreshesOnce) {
    if (!shared_between_processes()) GTEST_SKIP() << "storage not shared between processes";
    const auto log = scratch_.path() / "early.log";
    auto o = base_options();
    o.stale_after = 1500ms;
    auto f = cachier::cachier(fn_name(), [](std::int64_t x) { return x; }, o);
    f.precache_value(1, 1);  // fresh now: the workers only ever refresh it
    std::vector<std::unique_ptr<worker_process>> workers;
    for (int i = 0; i < 3; ++i)
        workers.push_back(std::make_unique<worker_process>(
            std::vector<std::string>{"early", url(), f.name(), "1500", "1800", log.string()}));
    for (auto& w : workers) EXPECT_EQ(w->wait(), 0) << "a worker's call was not a fresh hit (exit 5)";
    const auto lines = read_lines(log);
    EXPECT_EQ(lines.size(), 1U) << "one refresh across three processes, not one each";
}

}  // namespace cachier::test
