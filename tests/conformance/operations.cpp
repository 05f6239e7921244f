// The storage operations every driver offers (the backend interface, version 2), run against every
// backend: claim state on read, a waiter's poll, read-or-claim, ages kept through copies, per-entry expiry,
// single-entry removal, listings, and change notifications (also through a composite backend).

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <gmock/gmock.h>

#include "forwarding_backend.hpp"
#include "suite.hpp"

using namespace std::chrono_literals;

namespace cachier::test {
namespace {

/// A key in the form every backend accepts: 64 lowercase hex characters.
std::string hex_key(int n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string key(64, '0');
    for (int i = 0; i < 16 && n > 0; ++i, n >>= 4) key[63 - static_cast<std::size_t>(i)] = digits[n & 15];
    return key;
}

constexpr auto never_stale = std::chrono::nanoseconds::max();

/// Records change events, and lets a test wait for one.
class recording_sink final : public change_sink {
public:
    struct event {
        std::string function;
        std::string key;
        change_kind kind;
    };

    void on_change(const change_event& e) noexcept override {
        {
            const std::lock_guard lock(mutex_);
            events_.push_back({std::string(e.function), std::string(e.key), e.kind});
        }
        arrived_.notify_all();
    }

    /// Waits until an event of `kind` for (function, key) arrived; key empty matches any key.
    bool wait_for(const std::string& function, const std::string& key, change_kind kind,
                  std::chrono::milliseconds timeout = 2s) {
        std::unique_lock lock(mutex_);
        return arrived_.wait_for(lock, timeout, [&] {
            return std::any_of(events_.begin(), events_.end(), [&](const event& e) {
                return e.function == function && e.kind == kind && (key.empty() || e.key == key);
            });
        });
    }

    bool saw_function(const std::string& function) {
        const std::lock_guard lock(mutex_);
        return std::any_of(events_.begin(), events_.end(), [&](const event& e) { return e.function == function; });
    }

private:
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::vector<event> events_;
};

store_request value_of(std::string_view bytes) {
    store_request r;
    r.value = bytes;
    return r;
}

}  // namespace

TEST_P(Conformance, ReadReportsTheClaimOfAMissingEntry) {
    const std::string fn = fn_name();
    const std::string key = hex_key(1);
    const key_ref ref{fn, key};
    EXPECT_FALSE(backend_->read(ref, never_stale).entry.has_value());
    EXPECT_EQ(backend_->read(ref, never_stale).claim, claim_state::none);
    ASSERT_TRUE(backend_->try_claim(ref, "owner-a", 10s));
    EXPECT_EQ(backend_->read(ref, never_stale).claim, claim_state::live);
    EXPECT_FALSE(backend_->try_claim(ref, "owner-b", 10s)) << "a second owner claimed a live claim";
    backend_->release_claim(ref, "owner-a");
    EXPECT_EQ(backend_->read(ref, never_stale).claim, claim_state::none);
}

TEST_P(Conformance, PollReportsTheEntryOrItsLiveClaim) {
    const std::string fn = fn_name();
    const std::string key = hex_key(7);
    const key_ref ref{fn, key};
    const claim_token a = "owner-a";
    const read_result empty = backend_->poll(ref, never_stale);
    EXPECT_FALSE(empty.entry.has_value());
    EXPECT_EQ(empty.claim, claim_state::none);
    ASSERT_TRUE(backend_->try_claim(ref, a, 10s));
    EXPECT_EQ(backend_->poll(ref, never_stale).claim, claim_state::live);
    store_request request = value_of("v1");
    request.release = &a;
    backend_->store(ref, request);
    const read_result stored = backend_->poll(ref, never_stale);
    ASSERT_TRUE(stored.entry.has_value()) << "the claim ended and the value was not read";
    EXPECT_EQ(stored.entry->value, "v1");
    // A stale entry being recomputed: the live claim is reported, with or without the old value.
    ASSERT_TRUE(backend_->try_claim(ref, a, 10s));
    const read_result recomputing = backend_->poll(ref, -1ns);
    EXPECT_EQ(recomputing.claim, claim_state::live);
    if (recomputing.entry) {
        EXPECT_EQ(recomputing.entry->value, "v1");
    }
    backend_->release_claim(ref, a);
    const read_result released = backend_->poll(ref, -1ns);
    EXPECT_EQ(released.claim, claim_state::none);
    ASSERT_TRUE(released.entry.has_value()) << "the stale value must be read once its claim is gone";
    EXPECT_EQ(released.entry->value, "v1");
}

TEST_P(Conformance, ReadOrClaimClaimsAMissingOrStaleEntryButNeverAFreshOne) {
    const std::string fn = fn_name();
    const std::string key = hex_key(2);
    const key_ref ref{fn, key};
    const claim_token a = "owner-a";
    const claim_token b = "owner-b";
    const read_result first = backend_->read_or_claim(ref, {a, 10s, never_stale});
    EXPECT_TRUE(first.claimed);
    EXPECT_FALSE(first.entry.has_value());
    const read_result second = backend_->read_or_claim(ref, {b, 10s, never_stale});
    EXPECT_FALSE(second.claimed);
    EXPECT_EQ(second.claim, claim_state::live);

    store_request request = value_of("v1");
    request.release = &a;
    backend_->store(ref, request);
    const read_result hit = backend_->read_or_claim(ref, {b, 10s, never_stale});
    ASSERT_TRUE(hit.entry.has_value());
    EXPECT_EQ(hit.entry->value, "v1");
    EXPECT_FALSE(hit.claimed) << "a fresh entry was claimed";
    EXPECT_EQ(backend_->read(ref, never_stale).claim, claim_state::none) << "the store did not release the claim";

    const read_result stale = backend_->read_or_claim(ref, {b, 10s, -1ns});
    EXPECT_TRUE(stale.claimed) << "a stale entry without a claim was not claimed";
    ASSERT_TRUE(stale.entry.has_value());
    EXPECT_EQ(stale.entry->value, "v1") << "the stale value must come with the claim";
    EXPECT_FALSE(backend_->read_or_claim(ref, {a, 10s, -1ns}).claimed) << "two owners hold one stale entry";
    backend_->release_claim(ref, b);
    EXPECT_TRUE(backend_->read_or_claim(ref, {a, 10s, -1ns}).claimed);
    backend_->release_claim(ref, a);
}

TEST_P(Conformance, CopyingAnEntryKeepsItsAge) {
    const std::string fn = fn_name();
    const std::string key = hex_key(3);
    store_request old = value_of("aged");
    old.age = 2h;
    backend_->store({fn, key}, old);
    const auto read_back = backend_->read({fn, key}, never_stale).entry;
    ASSERT_TRUE(read_back.has_value());
    EXPECT_GE(read_back->age, 2h);
    EXPECT_LT(read_back->age, 2h + 30s);

    // A copy to another entry (as a tier or a migration makes) carries the age it read.
    const std::string copy_key = hex_key(4);
    store_request copy = value_of(read_back->value);
    copy.age = read_back->age;
    backend_->store({fn, copy_key}, copy);
    const auto copied = backend_->read({fn, copy_key}, never_stale).entry;
    ASSERT_TRUE(copied.has_value());
    EXPECT_GE(copied->age, read_back->age);
    EXPECT_FALSE(backend_->read_or_claim({fn, copy_key}, {"owner", 10s, 1h}).fresh(1h)) << "the copy looks new";
}

TEST_P(Conformance, PerEntryExpiryHidesTheEntry) {
    const std::string fn = fn_name();
    store_request expiring = value_of("short-lived");
    expiring.expires_after = 300ms;
    backend_->store({fn, hex_key(5)}, expiring);
    backend_->store({fn, hex_key(6)}, value_of("kept"));
    EXPECT_TRUE(backend_->read({fn, hex_key(5)}, never_stale).entry.has_value());
    std::this_thread::sleep_for(700ms);
    EXPECT_FALSE(backend_->read({fn, hex_key(5)}, never_stale).entry.has_value()) << "an expired entry was served";
    EXPECT_TRUE(backend_->read({fn, hex_key(6)}, never_stale).entry.has_value());
    EXPECT_EQ(backend_->entry_count(fn), 1U);
    int listed = 0;
    backend_->list_entries(fn, [&](const entry_info& e) {
        listed += e.has_value ? 1 : 0;
        return true;
    });
    EXPECT_EQ(listed, 1);
}

TEST_P(Conformance, RemoveDropsOneEntryAndKeepsItsLiveClaim) {
    const std::string fn = fn_name();
    backend_->store({fn, hex_key(7)}, value_of("a"));
    backend_->store({fn, hex_key(8)}, value_of("b"));
    EXPECT_TRUE(backend_->remove({fn, hex_key(7)}));
    EXPECT_FALSE(backend_->remove({fn, hex_key(7)})) << "removing a missing entry reported a removal";
    EXPECT_FALSE(backend_->read({fn, hex_key(7)}, never_stale).entry.has_value());
    EXPECT_TRUE(backend_->read({fn, hex_key(8)}, never_stale).entry.has_value());

    ASSERT_TRUE(backend_->try_claim({fn, hex_key(8)}, "owner", 10s));
    EXPECT_TRUE(backend_->remove({fn, hex_key(8)}));
    const read_result after = backend_->read({fn, hex_key(8)}, never_stale);
    EXPECT_FALSE(after.entry.has_value());
    EXPECT_EQ(after.claim, claim_state::live) << "removing the value dropped a computation's claim";
    backend_->release_claim({fn, hex_key(8)}, "owner");
}

TEST_P(Conformance, ListsFunctionsAndEntriesWithSizesAgesAndClaims) {
    const std::string f = fn_name("_f");
    const std::string g = fn_name("_g:with odd*name");
    backend_->store({f, hex_key(10)}, value_of("1234"));
    backend_->store({f, hex_key(11)}, value_of("123456"));
    store_request old = value_of("12");
    old.age = 1h;
    backend_->store({f, hex_key(12)}, old);
    backend_->store({g, hex_key(10)}, value_of("x"));
    ASSERT_TRUE(backend_->try_claim({f, hex_key(13)}, "owner", 10s));  // a computation, no value yet

    std::map<std::string, function_info> functions;
    backend_->list_functions([&](const function_info& info) {
        functions[info.name] = info;
        return true;
    });
    ASSERT_EQ(functions.count(f), 1U) << "function not listed";
    ASSERT_EQ(functions.count(g), 1U) << "function with an odd name not listed";
    EXPECT_EQ(functions[f].entries, 3U);
    EXPECT_EQ(functions[f].bytes, 12U);
    ASSERT_TRUE(functions[f].oldest && functions[f].newest);
    EXPECT_GE(*functions[f].oldest, 1h);
    EXPECT_LT(*functions[f].newest, 1min);
    EXPECT_EQ(functions[g].entries, 1U);

    std::map<std::string, function_info> summaries;
    backend_->summaries([&](const function_info& info) {
        summaries[info.name] = info;
        return true;
    });
    EXPECT_EQ(summaries[f].entries, 3U) << "summaries differ from the listing";
    EXPECT_EQ(summaries[f].bytes, 12U);
    EXPECT_EQ(summaries[g].entries, 1U);

    std::map<std::string, entry_info> entries;
    backend_->list_entries(f, [&](const entry_info& e) {
        entries[e.key] = e;
        return true;
    });
    ASSERT_EQ(entries.size(), 4U);
    EXPECT_EQ(entries[hex_key(11)].size, 6U);
    EXPECT_TRUE(entries[hex_key(11)].has_value);
    EXPECT_GE(entries[hex_key(12)].age, 1h);
    EXPECT_FALSE(entries[hex_key(13)].has_value);
    EXPECT_EQ(entries[hex_key(13)].claim, claim_state::live);
    EXPECT_EQ(entries[hex_key(10)].claim, claim_state::none);
    backend_->release_claim({f, hex_key(13)}, "owner");

    int visited = 0;
    backend_->list_entries(f, [&](const entry_info&) { return ++visited < 2; });
    EXPECT_EQ(visited, 2) << "the listing went on after the visitor said stop";
}

TEST_P(Conformance, EveryChangeIsReportedToTheSinks) {
    auto sink = std::make_shared<recording_sink>();
    backend_->add_change_sink(sink);
    const std::string fn = fn_name();
    const std::string key = hex_key(20);
    backend_->store({fn, key}, value_of("a"));
    EXPECT_TRUE(sink->wait_for(fn, key, change_kind::stored));
    backend_->remove({fn, key});
    EXPECT_TRUE(sink->wait_for(fn, key, change_kind::removed));
    ASSERT_TRUE(backend_->try_claim({fn, key}, "owner", 10s));
    backend_->release_claim({fn, key}, "owner");
    EXPECT_TRUE(sink->wait_for(fn, key, change_kind::claim_released));
    backend_->clear(fn);
    EXPECT_TRUE(sink->wait_for(fn, "", change_kind::cleared));
    backend_->remove_change_sink(sink.get());
    backend_->store({fn_name("_after"), key}, value_of("b"));
    EXPECT_FALSE(sink->saw_function(fn_name("_after"))) << "a removed sink still hears changes";
}

TEST_P(Conformance, ChangesReachSinksThroughAComposite) {
    auto composite = std::make_shared<forwarding_backend>(backend_);
    auto sink = std::make_shared<recording_sink>();
    composite->add_change_sink(sink);
    const std::string fn = fn_name();
    backend_->store({fn, hex_key(21)}, value_of("made on the inner backend"));
    EXPECT_TRUE(sink->wait_for(fn, hex_key(21), change_kind::stored));
    backend_->clear(fn);
    EXPECT_TRUE(sink->wait_for(fn, "", change_kind::cleared));
}

TEST_P(Conformance, AnotherProcessesStoreIsHeardOnlyOnWatchedFunctions) {
    if (!shared_between_processes() || !backend_->capabilities().pushes_changes)
        GTEST_SKIP() << "storage that does not push other processes' changes";
    auto sink = std::make_shared<recording_sink>();
    backend_->add_change_sink(sink);
    const std::string watched = fn_name("_watched");
    const std::string other = fn_name("_other");
    backend_->watch(watched);
    for (const auto& name : {watched, other}) {
        worker_process writer({"compute", url(), name, "3", "0", (scratch_.path() / "w.log").string()});
        ASSERT_EQ(writer.wait(), 0);
    }
    EXPECT_TRUE(sink->wait_for(watched, "", change_kind::stored)) << "another process's store was not heard";
    std::this_thread::sleep_for(200ms);
    EXPECT_FALSE(sink->saw_function(other)) << "a change of an unwatched function reached this process";
    backend_->unwatch(watched);
}

TEST_P(Conformance, WaiterBehindACompositeWakesOnAnotherProcessesStore) {
    if (!shared_between_processes()) GTEST_SKIP() << "storage is private to one process";
    options o;
    o.backend = std::make_shared<forwarding_backend>(backend_);
    auto f = cachier::cachier(fn_name(), [](std::int64_t x) { return x * 2; }, o);
    const std::int64_t delay = median_wake_up_delay_ns(f);
    EXPECT_GE(delay, 0) << "the other process did not compute";
    EXPECT_LT(delay, wake_up_bound().count()) << "median wake-up delay too long";
}

}  // namespace cachier::test
