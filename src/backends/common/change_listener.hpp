#pragma once
// A background thread that keeps one connection listening for changes pushed by a server (Redis
// pub/sub, PostgreSQL LISTEN) on the channels of the functions this process watches, and reconnects
// with backoff after failures, reporting the first failure of each outage. The destructor
// interrupts the connection and joins the thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cachier/errors.hpp>

#include "../../fork.hpp"
#include "../../log.hpp"

namespace cachier::detail {

/// Connection must have `void interrupt() noexcept`, callable from another thread.
template <class Connection>
class change_listener {
public:
    /// Makes a connection ready to listen.
    using connect_fn = std::function<std::unique_ptr<Connection>()>;
    /// Starts (`on` true) or stops listening to a channel on the connection.
    using subscribe_fn = std::function<void(Connection&, const std::string& channel, bool on)>;
    /// Waits a while for messages and delivers them; returns early when `wake_fd` becomes readable.
    /// Throws backend_error when the connection breaks.
    using receive_fn = std::function<void(Connection&, int wake_fd)>;

    change_listener(std::string what, connect_fn connect, subscribe_fn subscribe, receive_fn receive)
        : what_(std::move(what)), connect_(std::move(connect)), subscribe_(std::move(subscribe)),
          receive_(std::move(receive)), wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

    ~change_listener() {
        {
            const std::lock_guard lock(mutex_);
            stopping_ = true;
            if (connection_) connection_->interrupt();
        }
        wake();
        if (thread_.joinable()) thread_.join();
        if (wake_fd_ >= 0) ::close(wake_fd_);
    }
    change_listener(const change_listener&) = delete;
    change_listener& operator=(const change_listener&) = delete;

    /// Starts listening to `channel` (counted) and, unless the server is failing, waits a little
    /// for the subscription (and a first connection), so that changes made after it returns are heard.
    void watch(const std::string& channel) {
        std::unique_lock lock(mutex_);
        if (++wanted_[channel] > 1) return;
        // The thread and its connection exist from the first watch on: a backend that is only read
        // or listed (the command-line tool) opens no second connection.
        if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] { run(); });
        wake();
        if (failing_) return;  // reconnecting: it subscribes to every wanted channel when it is back
        applied_changed_.wait_for(lock, std::chrono::milliseconds(200),
                                  [&] { return stopping_ || failing_ || subscribed_.count(channel) > 0; });
    }

    /// Ends one watch of `channel`.
    void unwatch(const std::string& channel) {
        const std::lock_guard lock(mutex_);
        auto it = wanted_.find(channel);
        if (it == wanted_.end() || --it->second > 0) return;
        wanted_.erase(it);
        wake();
    }

private:
    void wake() noexcept {
        if (wake_fd_ < 0) return;
        const std::uint64_t one = 1;
        [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof(one));
    }

    void drain_wake() noexcept {
        std::uint64_t count = 0;
        [[maybe_unused]] const auto got = ::read(wake_fd_, &count, sizeof(count));
    }

    /// Brings the connection's subscriptions in line with the wanted channels.
    void apply_subscriptions(Connection& c) {
        std::set<std::string> add;
        std::set<std::string> drop;
        {
            const std::lock_guard lock(mutex_);
            for (const auto& [channel, count] : wanted_)
                if (subscribed_.count(channel) == 0) add.insert(channel);
            for (const auto& channel : subscribed_)
                if (wanted_.count(channel) == 0) drop.insert(channel);
        }
        for (const auto& channel : drop) subscribe_(c, channel, false);
        for (const auto& channel : add) subscribe_(c, channel, true);
        {
            const std::lock_guard lock(mutex_);
            for (const auto& channel : drop) subscribed_.erase(channel);
            subscribed_.insert(add.begin(), add.end());
        }
        applied_changed_.notify_all();
    }

    void run() {
        constexpr auto first_pause = std::chrono::milliseconds(50);
        auto pause = first_pause;
        while (!is_stopping()) {
            try {
                auto owned = connect_();
                Connection* c = owned.get();
                {
                    // Owned under the mutex, so that the destructor can interrupt it safely.
                    const std::lock_guard lock(mutex_);
                    if (stopping_) return;
                    connection_ = std::move(owned);
                    subscribed_.clear();
                    failing_ = false;
                }
                pause = first_pause;
                while (!is_stopping()) {
                    apply_subscriptions(*c);
                    receive_(*c, wake_fd_);
                    drain_wake();
                }
            } catch (const backend_error& e) {
                if (!is_stopping() && pause == first_pause) log(log_level::warning, what_ + " paused: " + e.what());
            }
            {
                const std::lock_guard lock(mutex_);
                connection_.reset();
                subscribed_.clear();
                failing_ = true;
            }
            applied_changed_.notify_all();
            for (auto slept = std::chrono::milliseconds(0); slept < pause && !is_stopping();
                 slept += std::chrono::milliseconds(10))
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            pause = std::min(pause * 2, std::chrono::milliseconds(1000));
        }
    }

    bool is_stopping() {
        const std::lock_guard lock(mutex_);
        return stopping_;
    }

    const std::string what_;
    const connect_fn connect_;
    const subscribe_fn subscribe_;
    const receive_fn receive_;
    int wake_fd_;
    std::mutex mutex_;
    std::condition_variable applied_changed_;
    bool stopping_ = false;
    bool failing_ = false;  // the last connection failed or broke; a new one is not up yet
    std::map<std::string, std::size_t> wanted_;
    std::set<std::string> subscribed_;
    std::unique_ptr<Connection> connection_;
    std::thread thread_;  // started by the first watch
    // In a forked child the listening thread is gone and its connection is the parent's: a new
    // thread listens on a new connection to the same channels.
    on_fork_child fork_{[this] {
        renew_lock(mutex_);
        renew_lock(applied_changed_);
        abandon(connection_);
        subscribed_.clear();
        wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);  // the inherited one is shared with the parent
        const bool listening = thread_.joinable();
        abandon_thread(std::move(thread_));
        if (listening && !stopping_) thread_ = std::thread([this] { run(); });
    }};
};

}  // namespace cachier::detail
