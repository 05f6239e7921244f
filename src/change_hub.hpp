#pragma once
// The engine's side of change notification: one hub per backend, registered as the backend's change
// sink. It wakes the threads of this process that wait for an entry to change, whether the change was
// made here or reported by the storage. A fixed set of stripes keeps memory bounded whatever the
// number of keys; waiters on a shared stripe wake spuriously and look again.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include <cachier/backend.hpp>

#include "bounding.hpp"
#include "fork.hpp"

namespace cachier::detail {

class change_hub final : public change_sink {
public:
    /// The hub of `store`, made and registered as its sink on first use.
    static std::shared_ptr<change_hub> of(backend& store);

    void on_change(const change_event& event) noexcept override;

    /// A counter that changes of `ref` advance; read it before looking at the storage.
    [[nodiscard]] std::uint64_t generation(const key_ref& ref) const noexcept;

    /// Blocks until a change of `ref` is reported after `seen` was read, or until `deadline`.
    void wait(const key_ref& ref, std::uint64_t seen, std::chrono::steady_clock::time_point deadline) const;

    /// Eviction passes over the whole storage (backend::set_store_limits): the hub is the engine's
    /// one object per backend.
    pass_schedule store_passes;

private:
    struct alignas(64) stripe {
        mutable std::mutex mutex;
        mutable std::condition_variable changed;
        std::atomic<std::uint64_t> generation{0};  // written under the mutex, read without it
    };
    [[nodiscard]] stripe& stripe_for(std::string_view key) const noexcept;
    static void advance(stripe& s) noexcept;

    static constexpr std::size_t stripe_count = 64;
    mutable std::array<stripe, stripe_count> stripes_;
    on_fork_child fork_{[this] {
        for (auto& s : stripes_) {
            renew_lock(s.mutex);
            renew_lock(s.changed);
        }
    }};
};

}  // namespace cachier::detail
