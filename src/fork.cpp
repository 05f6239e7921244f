#include "fork.hpp"

#include <atomic>
#include <map>
#include <mutex>

#include <pthread.h>

namespace cachier::detail {
namespace {

struct registry {
    std::mutex mutex;
    std::map<std::uint64_t, std::function<void()>> handlers;  // in registration order
    std::uint64_t next_id = 1;
    std::atomic<std::uint64_t> generation{0};
};

// Leaked on purpose: objects may unregister while static objects are being destroyed.
registry& the_registry() {
    static auto* instance = [] {
        auto* r = new registry;
        // The registry's lock is held across fork(), so the child inherits a consistent list.
        ::pthread_atfork([] { the_registry().mutex.lock(); }, [] { the_registry().mutex.unlock(); },
                         [] {
                             registry& reg = the_registry();
                             renew_lock(reg.mutex);
                             reg.generation.fetch_add(1, std::memory_order_relaxed);
                             for (auto& [id, rebuild] : reg.handlers) rebuild();
                         });
        return r;
    }();
    return *instance;
}

}  // namespace

on_fork_child::on_fork_child(std::function<void()> rebuild) {
    registry& reg = the_registry();
    const std::lock_guard lock(reg.mutex);
    id_ = reg.next_id++;
    reg.handlers.emplace(id_, std::move(rebuild));
}

on_fork_child::~on_fork_child() {
    registry& reg = the_registry();
    const std::lock_guard lock(reg.mutex);
    reg.handlers.erase(id_);
}

std::uint64_t fork_generation() noexcept { return the_registry().generation.load(std::memory_order_relaxed); }

}  // namespace cachier::detail
