#pragma once
// A thread-safe pool of client connections, shared by the network backends. After a failed
// connection attempt it fails fast for a short while, so that callers do not each wait for a
// connect timeout while a server is down.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <cachier/errors.hpp>

#include "../../fork.hpp"

namespace cachier::detail {

/// Connection must have `bool usable() const`: false once it broke, so that it is not reused.
template <class Connection>
class connection_pool {
public:
    using factory = std::function<std::unique_ptr<Connection>()>;

    connection_pool(factory make, std::size_t size, std::chrono::nanoseconds wait_timeout, std::string server)
        : make_(std::move(make)), size_(size), wait_timeout_(wait_timeout), server_(std::move(server)) {}

    /// A connection borrowed from the pool; returned on destruction unless it broke.
    class lease {
    public:
        lease(connection_pool& owner, std::unique_ptr<Connection> c) : owner_(owner), connection_(std::move(c)) {}
        ~lease() { owner_.give_back(connection_ && connection_->usable() ? std::move(connection_) : nullptr); }
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;
        Connection* operator->() const noexcept { return connection_.get(); }
        Connection& operator*() const noexcept { return *connection_; }

    private:
        connection_pool& owner_;
        std::unique_ptr<Connection> connection_;
    };

    lease acquire() {
        std::unique_lock lock(mutex_);
        const auto deadline = std::chrono::steady_clock::now() + wait_timeout_;
        for (;;) {
            if (!idle_.empty()) {
                auto c = std::move(idle_.back());
                idle_.pop_back();
                return lease(*this, std::move(c));
            }
            if (open_ < size_) break;
            if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() && open_ >= size_)
                throw backend_error("all " + std::to_string(size_) + " connections to " + server_ +
                                    " stayed busy for the command timeout");
        }
        if (std::chrono::steady_clock::now() < retry_after_) throw backend_error(last_failure_ + " (retrying shortly)");
        ++open_;
        lock.unlock();
        try {
            return lease(*this, make_());
        } catch (const backend_error& e) {
            lock.lock();
            --open_;
            retry_after_ = std::chrono::steady_clock::now() + reconnect_pause;
            last_failure_ = e.what();
            throw;
        }
    }

private:
    static constexpr auto reconnect_pause = std::chrono::milliseconds(250);

    void give_back(std::unique_ptr<Connection> c) {
        {
            const std::lock_guard lock(mutex_);
            if (c) idle_.push_back(std::move(c));
            else --open_;
        }
        returned_.notify_one();
    }

    const factory make_;
    const std::size_t size_;
    const std::chrono::nanoseconds wait_timeout_;
    const std::string server_;
    std::mutex mutex_;
    std::condition_variable returned_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::size_t open_ = 0;
    std::chrono::steady_clock::time_point retry_after_{};
    std::string last_failure_;
    // In a forked child the connections belong to the parent: they are left alone (closing one
    // politely could end the parent's session) and the child opens its own.
    on_fork_child fork_{[this] {
        renew_lock(mutex_);
        renew_lock(returned_);
        for (auto& c : idle_) abandon(c);
        idle_.clear();
        open_ = 0;
        retry_after_ = {};
    }};
};

}  // namespace cachier::detail
