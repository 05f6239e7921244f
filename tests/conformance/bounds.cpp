// Bounded caches, run against every backend: options::max_entries and options::max_bytes hold
// under a stream of misses (from one process and from four), least recently used values go first,
// and evictions are counted.

#include <algorithm>
#include <cstdio>
#include <thread>
#include <vector>

#include "suite.hpp"

using namespace std::chrono_literals;

namespace cachier::test {
namespace {

/// The values stored for `function` now: their number and bytes.
struct stored_totals {
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;
};

stored_totals totals_of(backend& store, const std::string& function) {
    stored_totals t;
    store.list_entries(function, [&](const entry_info& e) {
        if (e.has_value) {
            ++t.entries;
            t.bytes += e.size;
        }
        return true;
    });
    return t;
}

/// `cheap` misses, or half as many where listing a function costs a request per value (S3): each
/// eviction pass over the limit lists it.
std::int64_t misses_for(const backend& store, std::int64_t cheap) {
    return store.capabilities().cheap_listing ? cheap : cheap / 2;
}

/// Runs four writer processes, writer i a stream of misses of `functions[i]` with `limit` (a
/// max_entries, or "store:N" for a store limit); returns the most values of those functions seen
/// together while they ran, and the number left.
struct writers_outcome {
    std::uint64_t most = 0;
    std::uint64_t left = 0;
};

writers_outcome run_four_writers(backend& store, const std::string& url, const std::vector<std::string>& functions,
                                 const std::string& limit) {
    std::vector<std::string> distinct = functions;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    const auto count_all = [&] {
        std::uint64_t n = 0;
        for (const auto& f : distinct) n += totals_of(store, f).entries;
        return n;
    };
    // Storage that lists at a request per value (S3): half the misses.
    const std::int64_t misses = misses_for(store, 100);
    std::vector<std::unique_ptr<worker_process>> writers;
    for (std::size_t w = 0; w < functions.size(); ++w)
        writers.push_back(std::make_unique<worker_process>(std::vector<std::string>{
            "miss", url, functions[w], std::to_string(w * 100000), std::to_string(misses), limit}));
    writers_outcome out;
    bool running = true;
    while (running) {
        out.most = std::max(out.most, count_all());
        running = false;
        for (auto& w : writers) running = running || w->running();
        std::this_thread::sleep_for(10ms);
    }
    for (auto& w : writers) EXPECT_EQ(w->wait(), 0);
    out.left = count_all();
    std::printf("most values seen: %llu, left: %llu\n", static_cast<unsigned long long>(out.most),
                static_cast<unsigned long long>(out.left));
    return out;
}

}  // namespace

TEST_P(Conformance, MaxEntriesHoldsUnderAStreamOfMissesAndCountsEvictions) {
    auto o = base_options();
    o.max_entries = 40;
    o.enable_metrics = true;
    auto f = cachier::cachier(fn_name(), [](std::int64_t x) { return x * 3; }, o);
    std::uint64_t most = 0;
    const std::int64_t misses = misses_for(*backend_, 200);
    for (std::int64_t i = 0; i < misses; ++i) {
        EXPECT_EQ(f(i), i * 3);
        if (i % 20 == 19) most = std::max(most, totals_of(*backend_, f.name()).entries);
    }
    wait_for_background_work();
    const auto left = totals_of(*backend_, f.name());
    EXPECT_LE(most, 44U) << "more than 10% above max_entries while misses were stored";
    EXPECT_LE(left.entries, 40U);
    EXPECT_GE(left.entries, 30U) << "evicted far below the limit";
    EXPECT_EQ(f.metrics().evictions, static_cast<std::uint64_t>(misses) - left.entries);
    EXPECT_EQ(f.peek(misses - 1), std::optional<std::int64_t>((misses - 1) * 3)) << "the newest value was evicted";
    EXPECT_EQ(f.peek(0), std::nullopt) << "the oldest value was kept";
}

TEST_P(Conformance, MaxBytesHoldsTheStoredBytesUnderAStreamOfMisses) {
    auto o = base_options();
    o.max_bytes = "16KiB";
    auto f = cachier::cachier(fn_name(), [](std::int64_t x) { return std::string(1000, static_cast<char>('a' + x % 26)); }, o);
    std::uint64_t most = 0;
    for (std::int64_t i = 0; i < 60; ++i) {
        EXPECT_EQ(f(i).size(), 1000U);
        if (i % 5 == 4) most = std::max(most, totals_of(*backend_, f.name()).bytes);
    }
    wait_for_background_work();
    const auto left = totals_of(*backend_, f.name());
    EXPECT_LE(most, 16U * 1024U * 11U / 10U) << "more than 10% above max_bytes while misses were stored";
    EXPECT_LE(left.bytes, 16U * 1024U);
    EXPECT_GE(left.entries, 10U) << "evicted far below the limit";
    EXPECT_TRUE(f.peek(59).has_value()) << "the newest value was evicted";
}

TEST_P(Conformance, RecentlyUsedValuesSurviveEvictionAndIdleOnesGo) {
    if (!backend_->capabilities().records_last_use) GTEST_SKIP() << "this storage records no use: ages decide";
    auto o = base_options();
    o.max_entries = 20;
    auto f = cachier::cachier(fn_name(), [](std::int64_t x) { return x + 100; }, o);
    // 18 values: passes foreseeing the next stores evict from 90% of the limit on.
    for (std::int64_t i = 0; i < 18; ++i) EXPECT_EQ(f(i), i + 100);
    wait_for_background_work();
    // Uses are recorded at most once a second per entry; some storage keeps times in whole seconds.
    std::this_thread::sleep_for(2100ms);
    for (std::int64_t i = 0; i < 9; ++i) EXPECT_EQ(f(i), i + 100);  // hits: 0..8 are used now, 9..17 idle
    wait_for_background_work();
    for (std::int64_t i = 18; i < 27; ++i) EXPECT_EQ(f(i), i + 100);
    wait_for_background_work();
    EXPECT_LE(totals_of(*backend_, f.name()).entries, 20U);
    // Passes leave 90% of the limit: the 9 idle values go before any used one.
    int used_kept = 0;
    int idle_kept = 0;
    for (std::int64_t i = 0; i < 9; ++i) used_kept += f.peek(i).has_value() ? 1 : 0;
    for (std::int64_t i = 9; i < 18; ++i) idle_kept += f.peek(i).has_value() ? 1 : 0;
    for (std::int64_t i = 18; i < 27; ++i) EXPECT_TRUE(f.peek(i).has_value()) << "the new value " << i << " was evicted";
    EXPECT_GE(used_kept, 8) << "recently used values were evicted before idle ones";
    EXPECT_LE(idle_kept, 1) << "idle values were kept";
}

TEST_P(Conformance, MaxEntriesHoldsWhileFourProcessesStore) {
    if (!shared_between_processes()) GTEST_SKIP() << "not shared between processes";
    const std::string name = fn_name();
    const std::uint64_t limit = 100;
    const auto [most, left] = run_four_writers(*backend_, url(), {name, name, name, name}, std::to_string(limit));
    EXPECT_LE(most, limit * 11 / 10) << "too far above max_entries while four processes stored";
    EXPECT_LE(left, limit);
    EXPECT_GE(left, limit / 2);
}

TEST_P(Conformance, StoreLimitsHoldWhileFourProcessesStoreTwoFunctions) {
    if (!shared_between_processes()) GTEST_SKIP() << "not shared between processes";
    const std::string f = fn_name("_f");
    const std::string g = fn_name("_g");
    const std::uint64_t limit = 100;
    const auto [most, left] = run_four_writers(*backend_, url(), {f, g, f, g}, "store:" + std::to_string(limit));
    EXPECT_LE(most, limit * 11 / 10) << "too far above the store's max_entries while four processes stored";
    EXPECT_LE(left, limit);
    EXPECT_GE(left, limit / 2);
}

TEST_P(Conformance, StoreLimitsHoldEveryFunctionTogether) {
    backend_->set_store_limits({30, std::nullopt});
    auto f = cachier::cachier(fn_name("_f"), [](std::int64_t x) { return x; }, base_options());
    auto g = cachier::cachier(fn_name("_g"), [](std::int64_t x) { return -x; }, base_options());
    const std::int64_t misses = misses_for(*backend_, 40);
    std::uint64_t most = 0;
    for (std::int64_t i = 0; i < misses; ++i) {
        EXPECT_EQ(f(i), i);
        EXPECT_EQ(g(i), -i);
        if (i % 10 == 9)
            most = std::max(most, totals_of(*backend_, f.name()).entries + totals_of(*backend_, g.name()).entries);
    }
    wait_for_background_work();
    const std::uint64_t left = totals_of(*backend_, f.name()).entries + totals_of(*backend_, g.name()).entries;
    EXPECT_LE(most, 33U) << "more than 10% above the store's max_entries";
    EXPECT_LE(left, 30U);
    EXPECT_GE(left, 20U) << "evicted far below the limit";
    EXPECT_TRUE(f.peek(misses - 1).has_value()) << "the newest value of f was evicted";
    EXPECT_TRUE(g.peek(misses - 1).has_value()) << "the newest value of g was evicted";
    EXPECT_EQ(f.peek(0), std::nullopt) << "the oldest value of f was kept";
    backend_->set_store_limits({});
    EXPECT_FALSE(backend_->has_store_limits());
}

TEST_P(Conformance, EvictByHandKeepsTheMostRecentlyUsed) {
    auto f = cachier::cachier(fn_name(), [](std::int64_t x) { return x; }, base_options());
    for (std::int64_t i = 0; i < 20; ++i) EXPECT_EQ(f(i), i);
    const auto report = evict_least_recently_used(*backend_, f.name(), {5, std::nullopt});
    EXPECT_EQ(report.removed, 15U);
    EXPECT_EQ(report.entries_left, 5U);
    EXPECT_EQ(totals_of(*backend_, f.name()).entries, 5U);
    for (std::int64_t i = 15; i < 20; ++i) EXPECT_TRUE(f.peek(i).has_value()) << "value " << i << " was evicted";
    const auto none = evict_least_recently_used(*backend_, f.name(), {5, std::nullopt});
    EXPECT_EQ(none.removed, 0U);
    EXPECT_THROW(cachier::cachier(fn_name("_zero"), [](std::int64_t x) { return x; },
                                  [&] {
                                      auto o = base_options();
                                      o.max_entries = 0;
                                      return o;
                                  }()),
                 config_error);
}

}  // namespace cachier::test
