#pragma once
// A thin C++ layer over hiredis: one connection, and a thread-safe pool of them.
// Every failure is a cachier::backend_error whose message never contains the password.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include <cachier/backends.hpp>

namespace cachier::detail::redis {

struct reply_deleter {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
/// A reply from the server (never an error reply: those are thrown).
using reply = std::unique_ptr<redisReply, reply_deleter>;

/// "redis://user@host:port/db" or "redis+unix:///path": where the server is, without the password.
std::string describe(const redis_options& options);

/// One open connection, authenticated and on the right database.
class connection {
public:
    explicit connection(const redis_options& options);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Sends one command (binary-safe arguments) and returns its reply.
    reply command(const std::vector<std::string_view>& args);

    /// Sends several commands in one round trip and returns their replies in order.
    std::vector<reply> pipeline(const std::vector<std::vector<std::string_view>>& commands);

    /// Waits up to `timeout` for the next pushed reply (pub/sub); empty on timeout.
    reply next_push(std::chrono::milliseconds timeout);

    /// Makes a blocked next_push return (from another thread) by shutting the socket down.
    void interrupt() noexcept;

    /// False once an I/O error has made the connection unusable.
    [[nodiscard]] bool usable() const noexcept;

private:
    [[noreturn]] void fail(const std::string& doing);
    reply take(void* raw, const std::string& doing);

    redisContext* context_ = nullptr;
    int socket_ = -1;  // fixed once connected: read by interrupt() from another thread
    std::string where_;
};

/// Connections shared by the threads of one backend. After a failed connection attempt it fails
/// fast for a short while instead of making every caller wait for a connect timeout.
class pool {
public:
    explicit pool(redis_options options);

    /// A connection borrowed from the pool; returned on destruction unless it broke.
    class lease {
    public:
        lease(pool& owner, std::unique_ptr<connection> c) : owner_(owner), connection_(std::move(c)) {}
        ~lease();
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;
        connection* operator->() const noexcept { return connection_.get(); }

    private:
        pool& owner_;
        std::unique_ptr<connection> connection_;
    };

    lease acquire();
    [[nodiscard]] const redis_options& options() const noexcept { return options_; }

private:
    void give_back(std::unique_ptr<connection> c);

    const redis_options options_;
    std::mutex mutex_;
    std::condition_variable returned_;
    std::vector<std::unique_ptr<connection>> idle_;
    std::size_t open_ = 0;
    std::chrono::steady_clock::time_point retry_after_{};
    std::string last_failure_;
};

}  // namespace cachier::detail::redis
