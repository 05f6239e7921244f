#pragma once
// Wakes the threads of this process that wait for an entry to change. A fixed set of stripes keeps
// memory bounded whatever the number of keys; waiters on a shared stripe wake spuriously and look again.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include <cachier/backend.hpp>

namespace cachier::detail {

class change_notifier {
public:
    void notify(const key_ref& ref) noexcept;
    [[nodiscard]] std::uint64_t generation(const key_ref& ref) const noexcept;
    void wait(const key_ref& ref, std::uint64_t seen, std::chrono::steady_clock::time_point deadline) const;

private:
    struct alignas(64) stripe {
        mutable std::mutex mutex;
        mutable std::condition_variable changed;
        std::atomic<std::uint64_t> generation{0};  // written under the mutex, read without it
    };
    stripe& stripe_for(const key_ref& ref) const noexcept;

    static constexpr std::size_t stripe_count = 64;
    mutable std::array<stripe, stripe_count> stripes_;
};

}  // namespace cachier::detail
