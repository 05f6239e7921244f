// The engine renews the claim of a running computation on backends whose claims expire, so a
// computation longer than the lease keeps its claim, and an abandoned claim lapses after the lease.

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

using namespace std::chrono_literals;

namespace {

cachier::backend_capabilities leased_capabilities() {
    cachier::backend_capabilities caps;
    caps.claims = cachier::claim_mechanism::lease;
    caps.max_poll_interval = 20ms;
    return caps;
}

/// Memory storage whose claims end at a lease, as a remote server's do.
class leased_claims final : public cachier::backend {
public:
    leased_claims() : backend("leased", leased_capabilities()) {}

    /// When set, the first claim attempt finds a claim of an owner that died (never renewed).
    bool dead_owner_claims_first = false;
    std::atomic<int> renewals{0};

protected:
    cachier::read_result do_read(const cachier::key_ref& ref, std::chrono::nanoseconds max_age) override {
        auto found = values_->read(ref, max_age);
        const std::lock_guard lock(mutex_);
        auto it = claims_.find(std::string(ref.key));
        found.claim = it == claims_.end()                                     ? cachier::claim_state::none
                      : it->second.second > std::chrono::steady_clock::now() ? cachier::claim_state::live
                                                                              : cachier::claim_state::expired;
        return found;
    }

    void do_store(const cachier::key_ref& ref, const cachier::store_request& request) override {
        cachier::store_request copy = request;
        copy.release = nullptr;
        values_->store(ref, copy);
    }

    bool do_try_claim(const cachier::key_ref& ref, const cachier::claim_token& token,
                      std::chrono::milliseconds lease) override {
        const std::lock_guard lock(mutex_);
        auto& claim = claims_[std::string(ref.key)];
        if (std::exchange(dead_owner_claims_first, false)) claim = {"dead-owner", std::chrono::steady_clock::now() + lease};
        if (!claim.first.empty() && claim.first != token && claim.second > std::chrono::steady_clock::now())
            return false;
        claim = {token, std::chrono::steady_clock::now() + lease};
        return true;
    }

    void do_renew_claim(const cachier::key_ref& ref, const cachier::claim_token& token,
                        std::chrono::milliseconds lease) override {
        const std::lock_guard lock(mutex_);
        auto it = claims_.find(std::string(ref.key));
        if (it == claims_.end() || it->second.first != token) return;
        it->second.second = std::chrono::steady_clock::now() + lease;
        ++renewals;
    }

    void do_release_claim(const cachier::key_ref& ref, const cachier::claim_token& token) override {
        const std::lock_guard lock(mutex_);
        auto it = claims_.find(std::string(ref.key));
        if (it != claims_.end() && it->second.first == token) claims_.erase(it);
    }

    bool do_remove(const cachier::key_ref& ref) override { return values_->remove(ref); }
    void do_clear(std::string_view function) override { values_->clear(function); }
    void do_clear_claims(std::string_view) override {
        const std::lock_guard lock(mutex_);
        claims_.clear();
    }
    void do_list_functions(const cachier::visitor<cachier::function_info>& visit) override {
        values_->list_functions(visit);
    }
    void do_list_entries(std::string_view function, const cachier::visitor<cachier::entry_info>& visit) override {
        values_->list_entries(function, visit);
    }

private:
    std::shared_ptr<cachier::backend> values_ = cachier::memory_backend();
    std::mutex mutex_;
    std::map<std::string, std::pair<cachier::claim_token, std::chrono::steady_clock::time_point>> claims_;
};

}  // namespace

TEST(Lease, RunningComputationKeepsItsClaimPastTheLease) {
    auto backend = std::make_shared<leased_claims>();
    cachier::options o;
    o.backend = backend;
    o.claim_lease = 90ms;
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        "lease.renewed",
        [&](int x) {
            ++calls;
            std::this_thread::sleep_for(600ms);
            return x;
        },
        o);
    auto first = std::async(std::launch::async, [&] { return f(1); });
    std::this_thread::sleep_for(150ms);  // past the lease: only renewal keeps the claim
    auto second = std::async(std::launch::async, [&] { return f(1); });
    EXPECT_EQ(first.get(), 1);
    EXPECT_EQ(second.get(), 1);
    EXPECT_EQ(calls, 1) << "the claim lapsed while its computation was running";
    EXPECT_GE(backend->renewals, 3);
}

TEST(Lease, ClaimOfADeadOwnerLapsesAfterTheLease) {
    auto backend = std::make_shared<leased_claims>();
    backend->dead_owner_claims_first = true;
    cachier::options o;
    o.backend = backend;  // wait_for_calc_timeout 0: only the lease can free the caller
    o.claim_lease = 300ms;
    auto f = cachier::cachier("lease.dead_owner", [](int x) { return x * 3; }, o);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(f(4), 12);
    const auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_GE(waited, 300ms);
    EXPECT_LT(waited, 1300ms);
}
