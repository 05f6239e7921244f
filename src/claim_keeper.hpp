#pragma once
// Renews the claims of running computations on backends whose claims expire, so that a long
// computation keeps its claim while a dead process's claim lapses after the lease.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <cachier/backend.hpp>

#include "fork.hpp"

namespace cachier::detail {

class claim_keeper {
public:
    static claim_keeper& instance();

    /// Starts renewing; returns an id for forget().
    std::uint64_t keep(std::shared_ptr<backend> owner, std::string function, std::string key, claim_token token,
                       std::chrono::milliseconds lease);
    void forget(std::uint64_t id);

private:
    struct held_claim {
        std::shared_ptr<backend> owner;
        std::string function;
        std::string key;
        claim_token token;
        std::chrono::milliseconds lease;
        std::chrono::steady_clock::time_point next_renewal;
    };
    void run();

    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::uint64_t, held_claim> claims_;
    std::uint64_t next_id_ = 1;
    bool started_ = false;
    // In a forked child: the renewing thread is gone, and the parent's claims are not the child's.
    on_fork_child fork_{[this] {
        renew_lock(mutex_);
        renew_lock(changed_);
        claims_.clear();
        started_ = false;
    }};
};

/// Keeps a claim renewed for the lifetime of the guard (only for backends whose claims expire).
class kept_claim {
public:
    kept_claim(const std::shared_ptr<backend>& owner, const key_ref& ref, const claim_token& token,
               std::chrono::milliseconds lease);
    ~kept_claim();
    kept_claim(const kept_claim&) = delete;
    kept_claim& operator=(const kept_claim&) = delete;

private:
    std::uint64_t id_ = 0;
};

}  // namespace cachier::detail
