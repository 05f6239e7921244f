#pragma once
// A thin C++ layer over hiredis: one connection, and a thread-safe pool of them.
// Every failure is a cachier::backend_error whose message never contains the password.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include <cachier/backends.hpp>

#include "../common/connection_pool.hpp"

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

    /// Sends one command without waiting for its reply (on a subscribed connection, where replies
    /// arrive among the pushed messages).
    void send(const std::vector<std::string_view>& args);

    /// Waits up to `timeout` for the next pushed reply (pub/sub); empty on timeout or when
    /// `wake_fd` (if not -1) becomes readable first.
    reply next_push(std::chrono::milliseconds timeout, int wake_fd = -1);

    /// Makes a blocked next_push return (from another thread) by shutting the socket down.
    void interrupt() noexcept;

    /// False once an I/O error has made the connection unusable.
    [[nodiscard]] bool usable() const noexcept;

private:
    [[noreturn]] void fail(const std::string& doing);
    void append(const std::vector<std::string_view>& args);  // queues one command
    reply take(void* raw, const std::string& doing);

    redisContext* context_ = nullptr;
    int socket_ = -1;  // fixed once connected: read by interrupt() from another thread
    std::string where_;
};

/// The connections of one Redis backend.
using pool = connection_pool<connection>;

/// A pool of connections to the server `options` names.
std::unique_ptr<pool> make_pool(const redis_options& options);

}  // namespace cachier::detail::redis
