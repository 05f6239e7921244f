#include "change_hub.hpp"

#include <functional>
#include <map>
#include <string_view>

namespace cachier::detail {

std::shared_ptr<change_hub> change_hub::of(backend& store) {
    // Looked up when a function's settings are resolved, never per call.
    static std::mutex mutex;
    static std::map<const backend*, std::weak_ptr<change_hub>> hubs;
    static const on_fork_child renew{[] { renew_lock(mutex); }};
    const std::lock_guard lock(mutex);
    std::erase_if(hubs, [](const auto& item) { return item.second.expired(); });
    if (auto existing = hubs[&store].lock()) return existing;
    auto made = std::make_shared<change_hub>();
    store.add_change_sink(made);  // the backend keeps it alive as long as it lives
    hubs[&store] = made;
    return made;
}

// By key only: the same key of two functions shares a stripe, whose waiters then wake once more
// than needed and look again. Only picks a stripe inside this process; never part of a stored key.
change_hub::stripe& change_hub::stripe_for(std::string_view key) const noexcept {
    return stripes_[std::hash<std::string_view>{}(key) % stripe_count];
}

void change_hub::advance(stripe& s) noexcept {
    {
        const std::lock_guard lock(s.mutex);
        s.generation.fetch_add(1, std::memory_order_acq_rel);
    }
    s.changed.notify_all();
}

void change_hub::on_change(const change_event& event) noexcept {
    // Waiters wait for the change itself, which is reported on its own.
    if (event.kind == change_kind::changing || event.kind == change_kind::settled) return;
    if (!event.key.empty()) {
        advance(stripe_for(event.key));
        return;
    }
    for (auto& s : stripes_) advance(s);  // a change of every entry of the function
}

std::uint64_t change_hub::generation(const key_ref& ref) const noexcept {
    return stripe_for(ref.key).generation.load(std::memory_order_acquire);
}

void change_hub::wait(const key_ref& ref, std::uint64_t seen, std::chrono::steady_clock::time_point deadline) const {
    stripe& s = stripe_for(ref.key);
    std::unique_lock lock(s.mutex);
    s.changed.wait_until(lock, deadline, [&] { return s.generation.load(std::memory_order_acquire) != seen; });
}

}  // namespace cachier::detail
