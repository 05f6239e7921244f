#include "redis_client.hpp"

#include <cerrno>
#include <cstring>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

namespace cachier::detail::redis {
namespace {

/// Keeps a write to a closed socket from killing the process with SIGPIPE (hiredis writes with
/// write(2), which raises it): the signal is blocked in this thread while hiredis works, and a
/// SIGPIPE raised meanwhile is consumed, as libpq does for its own sockets.
class sigpipe_guard {
public:
    sigpipe_guard() noexcept {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
        sigset_t pending;
        was_pending_ = ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    }
    ~sigpipe_guard() {
        sigset_t pending;
        if (!was_pending_ && ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
            const timespec now{};
            ::sigtimedwait(&pipe_, nullptr, &now);
        }
        ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    sigpipe_guard(const sigpipe_guard&) = delete;
    sigpipe_guard& operator=(const sigpipe_guard&) = delete;

private:
    sigset_t pipe_{};
    sigset_t old_{};
    bool was_pending_ = false;
};

timeval to_timeval(std::chrono::nanoseconds d) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}

}  // namespace

std::string describe(const redis_options& o) {
    if (!o.unix_socket.empty()) return "redis+unix://" + o.unix_socket + "?db=" + std::to_string(o.db);
    std::string out = "redis://";
    if (!o.user.empty() || !o.password.empty()) out += "***@";  // never the user name or password
    return out + o.host + ":" + std::to_string(o.port) + "/" + std::to_string(o.db);
}

connection::connection(const redis_options& o) : where_(describe(o)) {
    const timeval connect_timeout = to_timeval(o.connect_timeout.get());
    context_ = o.unix_socket.empty() ? redisConnectWithTimeout(o.host.c_str(), o.port, connect_timeout)
                                     : redisConnectUnixWithTimeout(o.unix_socket.c_str(), connect_timeout);
    if (context_ == nullptr) throw backend_error("cannot allocate a connection to " + where_);
    try {
        if (context_->err != 0) fail("connect to");
        if (redisSetTimeout(context_, to_timeval(o.command_timeout.get())) != REDIS_OK) fail("set timeouts on");
        if (o.unix_socket.empty()) redisEnableKeepAlive(context_);  // TCP only: it fails on Unix sockets
        socket_ = context_->fd;
        if (!o.password.empty()) {
            if (o.user.empty()) command({"AUTH", o.password});
            else command({"AUTH", o.user, o.password});
        }
        if (o.db != 0) {
            const std::string db = std::to_string(o.db);
            command({"SELECT", db});
        }
    } catch (const backend_error&) {
        redisFree(context_);  // the destructor does not run for a half-built object
        context_ = nullptr;
        throw;
    }
}

void connection::interrupt() noexcept {
    if (socket_ >= 0) ::shutdown(socket_, SHUT_RDWR);
}

connection::~connection() {
    if (context_ != nullptr) redisFree(context_);
}

bool connection::usable() const noexcept { return context_ != nullptr && context_->err == 0; }

void connection::fail(const std::string& doing) {
    const std::string why = context_->err != 0 ? std::string(context_->errstr) : "unknown error";
    throw backend_error("redis: cannot " + doing + " " + where_ + ": " + why);
}

reply connection::take(void* raw, const std::string& doing) {
    if (raw == nullptr) fail(doing);
    reply r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR)
        throw backend_error("redis at " + where_ + " refused to " + doing + ": " + std::string(r->str, r->len));
    return r;
}

void connection::append(const std::vector<std::string_view>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(args.size()), argv.data(), lengths.data()) != REDIS_OK)
        fail("queue a command for");
}

reply connection::command(const std::vector<std::string_view>& args) {
    const sigpipe_guard guard;
    append(args);
    void* raw = nullptr;
    // AUTH's arguments must not reach a message, so name the command only.
    if (redisGetReply(context_, &raw) != REDIS_OK) fail("run " + std::string(args.front()) + " on");
    return take(raw, args.empty() ? "run a command" : "run " + std::string(args.front()));
}

std::vector<reply> connection::pipeline(const std::vector<std::vector<std::string_view>>& commands) {
    const sigpipe_guard guard;
    for (const auto& args : commands) append(args);
    std::vector<reply> replies;
    for (std::size_t i = 0; i < commands.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(context_, &raw) != REDIS_OK) fail("read a reply from");
        replies.push_back(take(raw, "run " + std::string(commands[i].front())));
    }
    return replies;
}

void connection::send(const std::vector<std::string_view>& args) {
    const sigpipe_guard guard;
    append(args);
    int done = 0;
    while (done == 0)
        if (redisBufferWrite(context_, &done) != REDIS_OK) fail("write to");
}

reply connection::next_push(std::chrono::milliseconds timeout, int wake_fd) {
    void* raw = nullptr;
    if (redisGetReplyFromReader(context_, &raw) != REDIS_OK) fail("read from");
    if (raw != nullptr) return take(raw, "publish");
    pollfd p[2] = {{context_->fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int ready = ::poll(p, wake_fd >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
    if (ready < 0 && errno != EINTR) fail("wait for");
    if (ready <= 0 || p[0].revents == 0) return nullptr;
    if (redisBufferRead(context_) != REDIS_OK) fail("read from");
    if (redisGetReplyFromReader(context_, &raw) != REDIS_OK) fail("read from");
    return raw == nullptr ? nullptr : take(raw, "publish");
}

std::unique_ptr<pool> make_pool(const redis_options& options) {
    return std::make_unique<pool>([options] { return std::make_unique<connection>(options); }, options.pool.size,
                                  options.pool.wait_timeout.value_or(options.command_timeout).get(), describe(options));
}

}  // namespace cachier::detail::redis
