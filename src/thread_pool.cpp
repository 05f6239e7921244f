#include "thread_pool.hpp"

#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>

#include <cachier/options.hpp>

#include "log.hpp"

namespace cachier::detail {

std::size_t configured_max_workers() noexcept {
    const char* env = std::getenv("CACHIER_MAX_WORKERS");
    if (env == nullptr) return 8;
    const std::string_view text(env);
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 1024) {
        log(log_level::warning, "CACHIER_MAX_WORKERS=\"" + std::string(text) + "\" is not a count from 1 to 1024; using 8");
        return 8;
    }
    return value;
}

thread_pool& thread_pool::instance() {
    static thread_pool pool(configured_max_workers());
    return pool;
}

thread_pool::thread_pool(std::size_t max_workers) : max_workers_(max_workers) {}

thread_pool::~thread_pool() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
        tasks_.clear();
    }
    task_ready_.notify_all();
    for (auto& worker : workers_) worker.join();
}

void thread_pool::submit(std::function<void()> task) {
    const std::lock_guard lock(mutex_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
    if (idle_workers_ == 0 && workers_.size() < max_workers_) {
        workers_.emplace_back([this] { work(); });
    } else {
        task_ready_.notify_one();
    }
}

void thread_pool::wait_idle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return tasks_.empty() && running_ == 0; });
}

namespace {
thread_local bool on_pool_worker = false;
}

bool thread_pool::on_worker() noexcept { return on_pool_worker; }

void thread_pool::work() {
    on_pool_worker = true;
    std::unique_lock lock(mutex_);
    for (;;) {
        ++idle_workers_;
        task_ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        --idle_workers_;
        if (stopping_) return;
        auto task = std::move(tasks_.front());
        tasks_.pop_front();
        ++running_;
        lock.unlock();
        try {
            task();
        } catch (const std::exception& e) {
            log(log_level::error, std::string("background task failed: ") + e.what());
        } catch (...) {
            log(log_level::error, "background task failed with an unknown exception");
        }
        lock.lock();
        --running_;
        if (tasks_.empty() && running_ == 0) idle_.notify_all();
    }
}

}  // namespace cachier::detail

void cachier::wait_for_background_work() { detail::thread_pool::instance().wait_idle(); }
