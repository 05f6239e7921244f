#pragma once
// A reader-writer lock for read-mostly maps: each reader locks the slot of the CPU it runs on, so
// readers on different cores write different cache lines; a writer locks every slot.

#include <array>
#include <cstddef>
#include <mutex>

#include <sched.h>

#include "fork.hpp"

namespace cachier::detail {

/// A reader-writer lock whose readers spread over several cache lines.
class spread_lock {
public:
    class read_guard {
    public:
        explicit read_guard(spread_lock& lock) : slot_(lock.slots_[slot_index()].mutex) { slot_.lock(); }
        ~read_guard() { slot_.unlock(); }
        read_guard(const read_guard&) = delete;
        read_guard& operator=(const read_guard&) = delete;

    private:
        std::mutex& slot_;
    };

    class write_guard {
    public:
        explicit write_guard(spread_lock& lock) : lock_(lock) {
            for (auto& s : lock_.slots_) s.mutex.lock();
        }
        ~write_guard() {
            for (auto it = lock_.slots_.rbegin(); it != lock_.slots_.rend(); ++it) it->mutex.unlock();
        }
        write_guard(const write_guard&) = delete;
        write_guard& operator=(const write_guard&) = delete;

    private:
        spread_lock& lock_;
    };

    /// Makes every slot usable again in a forked child (see fork.hpp).
    void renew() noexcept {
        for (auto& s : slots_) renew_lock(s.mutex);
    }

private:
    static constexpr std::size_t slot_count = 8;
    // The slot of the CPU running the caller: threads on different cores use different slots. A
    // thread that moves to another CPU while holding a slot still unlocks the slot it locked.
    static std::size_t slot_index() noexcept {
        const int cpu = ::sched_getcpu();
        return cpu < 0 ? 0 : static_cast<std::size_t>(cpu) % slot_count;
    }
    struct alignas(64) slot {
        std::mutex mutex;
    };
    std::array<slot, slot_count> slots_;
};

}  // namespace cachier::detail
