// Per-entry operations of a cached function and versions, run against every backend: invalidate,
// peek, call_with_status, and options::version.

#include <algorithm>
#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "suite.hpp"

using namespace std::chrono_literals;

namespace cachier::test {
namespace {

struct counted {
    std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
    std::chrono::milliseconds delay{0};
    std::int64_t operator()(std::int64_t x) const {
        const int n = ++*calls;
        if (delay.count() > 0) std::this_thread::sleep_for(delay);
        return x * 10 + n;
    }
};

}  // namespace

TEST_P(Conformance, InvalidateRemovesTheOneEntryOfItsArguments) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    EXPECT_EQ(f(1), 11);
    EXPECT_EQ(f(2), 22);
    EXPECT_TRUE(f.invalidate(1));
    EXPECT_FALSE(f.invalidate(1)) << "nothing was left to remove";
    EXPECT_FALSE(f.invalidate(99));
    EXPECT_EQ(f(1), 13) << "an invalidated entry is computed again";
    EXPECT_EQ(f(2), 22) << "other arguments keep their entries";
    EXPECT_EQ(*fn.calls, 3);
    if (!shared_between_processes()) return;
    // Another process's copy (its own backend on the same storage) invalidates for everybody.
    auto o = base_options();
    o.backend = backend_from_url(url());
    auto elsewhere = cachier::cachier(fn_name(), fn, o);
    EXPECT_TRUE(elsewhere.invalidate(2));
    std::this_thread::sleep_for(unseen_change_bound());
    EXPECT_EQ(f(2), 24);
}

TEST_P(Conformance, PeekReturnsOnlyFreshValuesAndNeverCallsClaimsOrWaits) {
    counted fn;
    auto o = base_options();
    o.stale_after = 400ms;
    auto f = cachier::cachier(fn_name(), fn, o);
    EXPECT_EQ(f.peek(1), std::nullopt);
    EXPECT_EQ(*fn.calls, 0) << "peek called the function";
    EXPECT_EQ(f(1), 11);
    EXPECT_EQ(f.peek(1), std::optional<std::int64_t>(11));
    // A computation in progress elsewhere: peek neither waits for it nor takes over its claim.
    counted slow;
    slow.delay = 500ms;
    auto g = cachier::cachier(fn_name("_slow"), slow, o);
    auto computing = std::async(std::launch::async, [&] { return g(2); });
    std::this_thread::sleep_for(100ms);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(g.peek(2), std::nullopt);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 150ms) << "peek waited for a computation";
    EXPECT_EQ(computing.get(), 21);
    EXPECT_EQ(*slow.calls, 1) << "peek made a second computation";
    EXPECT_EQ(g.peek(2), std::optional<std::int64_t>(21));
    std::this_thread::sleep_for(450ms);
    EXPECT_EQ(f.peek(1), std::nullopt) << "peek returned a stale value";
    EXPECT_EQ(*fn.calls, 1);
}

TEST_P(Conformance, CallWithStatusSaysHowEachValueWasObtained) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    auto [first, first_status] = f.call_with_status({}, 1);
    EXPECT_EQ(first, 11);
    EXPECT_EQ(first_status, call_status::computed);
    EXPECT_EQ(f.call_with_status({}, 1).status, call_status::fresh_hit);
    EXPECT_EQ(f.call_with_status({}, 1).value, 11);
    call_options skip;
    skip.skip_cache = true;
    EXPECT_EQ(f.call_with_status(skip, 1).status, call_status::skipped);
    call_options overwrite;
    overwrite.overwrite_cache = true;
    EXPECT_EQ(f.call_with_status(overwrite, 1).status, call_status::computed);
    call_options stale;
    stale.max_age = -1ns;
    EXPECT_EQ(f.call_with_status(stale, 1).status, call_status::computed);

    counted slow;
    slow.delay = 300ms;
    auto g = cachier::cachier(fn_name("_slow"), slow, base_options());
    auto computing = std::async(std::launch::async, [&] { return g.call_with_status({}, 5).status; });
    std::this_thread::sleep_for(100ms);
    const auto waiting = g.call_with_status({}, 5);
    EXPECT_EQ(waiting.status, call_status::waited);
    EXPECT_EQ(waiting.value, 51);
    EXPECT_EQ(computing.get(), call_status::computed);

    auto o = base_options();
    o.stale_after = 100ms;
    o.next_time = true;
    auto h = cachier::cachier(fn_name("_next"), counted{}, o);
    EXPECT_EQ(h.call_with_status({}, 3).status, call_status::computed);
    std::this_thread::sleep_for(150ms);
    const auto refreshed = h.call_with_status({}, 3);
    EXPECT_EQ(refreshed.status, call_status::stale_hit);
    EXPECT_EQ(refreshed.value, 31) << "the stale value, at once";
    wait_for_background_work();
    EXPECT_EQ(to_string(call_status::waited), "waited");
}

namespace {

/// The functions holding entries (a store may keep an emptied function's place: the file backend
/// keeps its directory).
std::vector<std::string> stored_names(backend& store) {
    std::vector<std::string> names;
    store.list_functions([&](const function_info& f) {
        if (f.entries > 0) names.push_back(f.name);
        return true;
    });
    return names;
}

bool holds(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

TEST_P(Conformance, VersionsNeverSeeEachOthersEntries) {
    counted fn;
    auto v1 = base_options();
    v1.version = "v1";
    auto v2 = base_options();
    v2.version = "v2";
    auto f1 = cachier::cachier(fn_name(), fn, v1);
    auto f2 = cachier::cachier(fn_name(), fn, v2);
    auto plain = cachier::cachier(fn_name(), fn, base_options());
    EXPECT_EQ(f1(1), 11);
    EXPECT_EQ(f2(1), 12) << "a new version served an old version's value";
    EXPECT_EQ(plain(1), 13) << "an unversioned function served a version's value";
    EXPECT_EQ(f1(1), 11);
    EXPECT_EQ(f2.peek(1), std::optional<std::int64_t>(12));
    EXPECT_TRUE(f2.invalidate(1));
    EXPECT_EQ(f1(1), 11) << "invalidating one version removed another's entry";
    const auto names = stored_names(*backend_);
    EXPECT_TRUE(holds(names, stored_function_name(fn_name(), "v1")));
    EXPECT_TRUE(holds(names, fn_name()));
    const versioned_name split = split_stored_function_name(stored_function_name(fn_name(), "v1"));
    EXPECT_EQ(split.function, fn_name());
    EXPECT_EQ(split.version, "v1");
    // A function without a version of its own follows the global one, at call time.
    auto follows = cachier::cachier(fn_name(), fn, base_options());
    options global;
    global.version = "v1";
    set_global_params(global);
    EXPECT_EQ(follows(1), 11) << "the global version's entry";
    EXPECT_THROW(cachier::cachier(fn_name("_bad"), fn, [&] {
                     auto o = base_options();
                     o.version = std::string("v\xFF");
                     return o;
                 }()),
                 config_error);
}

TEST_P(Conformance, OtherVersionsAreRemovedByTheCleanupWhenAsked) {
    counted fn;
    auto v1 = base_options();
    v1.version = "v1";
    auto old_version = cachier::cachier(fn_name(), fn, v1);
    EXPECT_EQ(old_version(1), 11);
    EXPECT_EQ(old_version(2), 22);
    auto unversioned = cachier::cachier(fn_name(), fn, base_options());
    EXPECT_EQ(unversioned(3), 33);
    auto other = cachier::cachier(fn_name("_other"), fn, v1);
    EXPECT_EQ(other(4), 44);
    auto v2 = base_options();
    v2.version = "v2";
    v2.cleanup_other_versions = true;
    auto current = cachier::cachier(fn_name(), fn, v2);
    EXPECT_EQ(current(1), 15);  // the first call schedules the cleanup
    wait_for_background_work();
    const auto names = stored_names(*backend_);
    EXPECT_FALSE(holds(names, stored_function_name(fn_name(), "v1"))) << "the old version was kept";
    EXPECT_FALSE(holds(names, fn_name())) << "the unversioned entries were kept";
    EXPECT_TRUE(holds(names, stored_function_name(fn_name(), "v2")));
    EXPECT_TRUE(holds(names, stored_function_name(fn_name("_other"), "v1"))) << "another function was cleaned";
    EXPECT_EQ(current(1), 15);
    EXPECT_EQ(old_version(1), 16) << "the removed version computes again";
    EXPECT_EQ(remove_other_versions(*backend_, fn_name(), "v2"), 1U);
}

}  // namespace cachier::test

namespace cachier::test {

// Values a process keeps in memory (the in-process tier) follow every change made through another
// wrapper of the same name at once.
TEST_P(Conformance, AnotherWrapperOfTheSameNameIsSeenAtOnce) {
    counted fn;
    auto f = cachier::cachier(fn_name(), fn, base_options());
    auto g = cachier::cachier(fn_name(), fn, base_options());
    EXPECT_EQ(f(1), 11);
    EXPECT_EQ(f(1), 11);
    g.precache_value(99, 1);
    EXPECT_EQ(f(1), 99) << "a value stored by another wrapper replaces the one read before";
    EXPECT_TRUE(g.invalidate(1));
    EXPECT_EQ(f(1), 12) << "an entry invalidated by another wrapper is computed again";
    g.clear_cache();
    EXPECT_EQ(f(1), 13) << "a cache cleared by another wrapper is computed again";
    EXPECT_EQ(g(1), 13);
}

// Readers racing a writer of the same key never return to a value it replaced, and end with its last.
TEST_P(Conformance, ReadersNeverGoBackToAReplacedValue) {
    auto f = cachier::cachier(fn_name(), [](std::int64_t) -> std::int64_t { return -1; }, base_options());
    auto writer = cachier::cachier(fn_name(), [](std::int64_t) -> std::int64_t { return -1; }, base_options());
    constexpr std::int64_t last = 200;
    writer.precache_value(0, 1);
    std::atomic<bool> writing{true};
    std::vector<std::future<std::string>> readers;
    for (int r = 0; r < 2; ++r) {
        readers.push_back(std::async(std::launch::async, [&] {
            std::int64_t seen = 0;
            while (writing) {
                const std::int64_t now = f(1);
                if (now < seen) return "read " + std::to_string(now) + " after " + std::to_string(seen);
                seen = now;
            }
            return std::string();
        }));
    }
    for (std::int64_t i = 1; i <= last; ++i) writer.precache_value(i, 1);
    writing = false;
    for (auto& r : readers) EXPECT_EQ(r.get(), "");
    EXPECT_EQ(f(1), last);
}

}  // namespace cachier::test

namespace cachier::test {

// A value another process stores, an entry it invalidates and a cache it clears are seen here at
// once, or, behind an in-process tier, within the tier's bound (the change pushed, or the kept value
// past its max_staleness) and no later.
TEST_P(Conformance, AnotherProcessesChangesAreSeenWithinTheTiersBound) {
    if (!shared_between_processes()) GTEST_SKIP() << "storage not shared between processes";
    auto calls = std::make_shared<std::atomic<int>>(0);
    // The worker's "write" stores to_string(key), as precache_value does.
    auto f = cachier::cachier(
        fn_name(), [calls](std::int64_t x) { return std::to_string(x) + " computed #" + std::to_string(++*calls); },
        base_options());
    const auto seen_within = [&](const std::vector<std::string>& change, const std::string& expected) {
        worker_process changer(change);
        EXPECT_EQ(changer.wait(), 0);
        const auto changed = std::chrono::steady_clock::now();
        while (f(3) != expected && std::chrono::steady_clock::now() - changed < 5s) std::this_thread::sleep_for(1ms);
        const auto unseen = std::chrono::steady_clock::now() - changed;
        EXPECT_EQ(f(3), expected) << change[0] << ": another process's change was never seen";
        EXPECT_LE(unseen, unseen_change_bound() + 50ms) << change[0] << ": unseen longer than the tier allows";
    };
    EXPECT_EQ(f(3), "3 computed #1");
    EXPECT_EQ(f(3), "3 computed #1");  // kept in the process where there is a tier
    seen_within({"write", url(), f.name(), "3", "1", "0"}, "3");
    seen_within({"invalidate", url(), f.name(), "3"}, "3 computed #2");
    seen_within({"clear", url(), f.name()}, "3 computed #3");
}

}  // namespace cachier::test
