#pragma once
// Keeping cachier working in a child process after fork(). The child has only the thread that
// called fork(): the background threads are gone, locks may be held by threads that no longer exist,
// and pooled connections belong to the parent (closing them politely would end the parent's
// sessions). Objects that hold any of these register a handler that rebuilds them; the handlers run
// in the child right after fork(), while it still has a single thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

namespace cachier::detail {

/// Runs `rebuild` in every child process forked while it is alive. Declare it as the last member
/// of the object it rebuilds, so that it is registered after and removed before everything else.
class on_fork_child {
public:
    explicit on_fork_child(std::function<void()> rebuild);
    ~on_fork_child();
    on_fork_child(const on_fork_child&) = delete;
    on_fork_child& operator=(const on_fork_child&) = delete;

private:
    std::uint64_t id_;
};

/// Counts the forks this process came out of (0 in the original process).
[[nodiscard]] std::uint64_t fork_generation() noexcept;

/// Makes a lock usable again in a child, whoever held it in the parent (no other thread exists).
template <class Lock>
void renew_lock(Lock& lock) noexcept {
    std::construct_at(&lock);
}

/// Lets go of a thread that does not exist in this process: it is never joined nor destroyed.
inline void abandon_thread(std::thread&& thread) { (void)new std::thread(std::move(thread)); }

/// Lets go of an object that belongs to the parent process: it is never destroyed here.
template <class T>
void abandon(std::unique_ptr<T>& owned) noexcept {
    (void)owned.release();
}

}  // namespace cachier::detail
