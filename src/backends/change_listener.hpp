#pragma once
// A background thread that keeps one connection listening for changes pushed by a server (Redis
// pub/sub, PostgreSQL LISTEN) and reconnects with backoff after failures, reporting the first
// failure of each outage. The destructor interrupts the connection and joins the thread.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <cachier/errors.hpp>

#include "../log.hpp"

namespace cachier::detail {

/// Connection must have `void interrupt() noexcept`, callable from another thread.
template <class Connection>
class change_listener {
public:
    /// `connect` returns a connection already listening; `receive` waits a while on it and
    /// delivers what arrived (it throws backend_error when the connection breaks).
    change_listener(std::string what, std::function<std::unique_ptr<Connection>()> connect,
                    std::function<void(Connection&)> receive)
        : what_(std::move(what)), connect_(std::move(connect)), receive_(std::move(receive)),
          thread_([this] { run(); }) {}

    ~change_listener() {
        stopping_ = true;
        {
            const std::lock_guard lock(mutex_);
            if (connection_) connection_->interrupt();
        }
        thread_.join();
    }
    change_listener(const change_listener&) = delete;
    change_listener& operator=(const change_listener&) = delete;

private:
    void run() {
        constexpr auto first_pause = std::chrono::milliseconds(50);
        auto pause = first_pause;
        while (!stopping_) {
            try {
                auto owned = connect_();
                Connection* c = owned.get();
                {
                    // Owned under the mutex, so that the destructor can interrupt it safely.
                    const std::lock_guard lock(mutex_);
                    if (stopping_) return;
                    connection_ = std::move(owned);
                }
                pause = first_pause;
                while (!stopping_) receive_(*c);
            } catch (const backend_error& e) {
                if (!stopping_ && pause == first_pause) log(log_level::warning, what_ + " paused: " + e.what());
            }
            {
                const std::lock_guard lock(mutex_);
                connection_.reset();
            }
            for (auto slept = std::chrono::milliseconds(0); slept < pause && !stopping_;
                 slept += std::chrono::milliseconds(10))
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            pause = std::min(pause * 2, std::chrono::milliseconds(1000));
        }
    }

    const std::string what_;
    const std::function<std::unique_ptr<Connection>()> connect_;
    const std::function<void(Connection&)> receive_;
    std::atomic<bool> stopping_{false};
    std::mutex mutex_;
    std::unique_ptr<Connection> connection_;
    std::thread thread_;  // last: starts once everything above exists
};

}  // namespace cachier::detail
