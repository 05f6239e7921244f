#pragma once
// The bounded pool that runs background refreshes and stale cleanups.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "fork.hpp"

namespace cachier::detail {

class thread_pool {
public:
    /// The process-wide pool; its size is $CACHIER_MAX_WORKERS (default 8).
    static thread_pool& instance();

    explicit thread_pool(std::size_t max_workers);
    ~thread_pool();
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    /// Queues a task; workers start on demand up to the maximum. Tasks still queued at exit are dropped.
    void submit(std::function<void()> task);

    /// Blocks until no task is queued or running (used by tests and at shutdown of a test).
    void wait_idle();

    [[nodiscard]] std::size_t max_workers() const noexcept { return max_workers_; }

    /// Whether the calling thread is a worker of a pool (whose tasks must not wait for queued ones).
    [[nodiscard]] static bool on_worker() noexcept;

private:
    void work();

    const std::size_t max_workers_;
    std::mutex mutex_;
    std::condition_variable task_ready_;
    std::condition_variable idle_;
    std::deque<std::function<void()>> tasks_;
    std::vector<std::thread> workers_;
    std::size_t idle_workers_ = 0;
    std::size_t running_ = 0;
    bool stopping_ = false;
    // In a forked child: the workers are gone and the parent's queued tasks are not the child's.
    on_fork_child fork_{[this] {
        renew_lock(mutex_);
        renew_lock(task_ready_);
        renew_lock(idle_);
        for (auto& worker : workers_) abandon_thread(std::move(worker));
        workers_.clear();
        tasks_.clear();
        idle_workers_ = 0;
        running_ = 0;
    }};
};

/// Reads $CACHIER_MAX_WORKERS: a positive integer, else 8.
std::size_t configured_max_workers() noexcept;

}  // namespace cachier::detail
