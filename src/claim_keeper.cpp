#include "claim_keeper.hpp"

#include <vector>

#include "log.hpp"

namespace cachier::detail {

// Never destroyed: background refreshes may hold claims while static objects are being destroyed
// at exit. Its thread sleeps in a condition variable and ends with the process.
claim_keeper& claim_keeper::instance() {
    static auto* keeper = new claim_keeper;
    return *keeper;
}

std::uint64_t claim_keeper::keep(std::shared_ptr<backend> owner, std::string function, std::string key,
                                 claim_token token, std::chrono::milliseconds lease) {
    const std::lock_guard lock(mutex_);
    const std::uint64_t id = next_id_++;
    claims_.emplace(id, held_claim{std::move(owner), std::move(function), std::move(key), std::move(token), lease,
                                   std::chrono::steady_clock::now() + lease / 3});
    if (!started_) {
        std::thread([this] { run(); }).detach();
        started_ = true;
    }
    changed_.notify_all();
    return id;
}

void claim_keeper::forget(std::uint64_t id) {
    const std::lock_guard lock(mutex_);
    claims_.erase(id);
}

void claim_keeper::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        auto now = std::chrono::steady_clock::now();
        auto wake = now + std::chrono::seconds(60);
        std::vector<held_claim> due;
        for (auto& [id, claim] : claims_) {
            if (claim.next_renewal <= now) {
                due.push_back(claim);
                claim.next_renewal = now + claim.lease / 3;
            }
            wake = std::min(wake, claim.next_renewal);
        }
        if (!due.empty()) {
            lock.unlock();
            for (const auto& claim : due) {
                try {
                    claim.owner->renew_claim(key_ref{claim.function, claim.key}, claim.token, claim.lease);
                } catch (const std::exception& e) {
                    log(log_level::warning, "cannot renew the claim on " + claim.function + ": " + e.what());
                }
            }
            lock.lock();
            continue;
        }
        changed_.wait_until(lock, wake);
    }
}

kept_claim::kept_claim(const std::shared_ptr<backend>& owner, const key_ref& ref, const claim_token& token,
                       std::chrono::milliseconds lease) {
    if (owner->capabilities().claims == claim_mechanism::lease)
        id_ = claim_keeper::instance().keep(owner, std::string(ref.function), std::string(ref.key), token, lease);
}

kept_claim::~kept_claim() {
    if (id_ != 0) claim_keeper::instance().forget(id_);
}

}  // namespace cachier::detail
