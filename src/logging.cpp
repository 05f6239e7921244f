#include "log.hpp"

#include "fork.hpp"

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

namespace cachier {
namespace {

void write_to_stderr(log_level level, std::string_view message) {
    std::string line = "cachier ";
    line += to_string(level);
    line += ": ";
    line += message;
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
}

struct log_sink {
    std::mutex mutex;
    std::shared_ptr<const log_callback> callback = std::make_shared<const log_callback>(write_to_stderr);
    detail::on_fork_child fork{[this] { detail::renew_lock(mutex); }};
};

// Leaked on purpose: background workers may log while static objects are being destroyed.
log_sink& sink() {
    static auto* instance = new log_sink;
    return *instance;
}

}  // namespace

void set_log_callback(log_callback callback) {
    auto next = callback ? std::make_shared<const log_callback>(std::move(callback)) : nullptr;
    const std::lock_guard lock(sink().mutex);
    sink().callback = std::move(next);
}

void reset_log_callback() { set_log_callback(write_to_stderr); }

std::string_view to_string(log_level level) noexcept {
    switch (level) {
        case log_level::debug: return "debug";
        case log_level::warning: return "warning";
        case log_level::error: return "error";
    }
    return "unknown";
}

namespace detail {

void log(log_level level, std::string_view message) noexcept {
    std::shared_ptr<const log_callback> callback;
    {
        const std::lock_guard lock(sink().mutex);
        callback = sink().callback;
    }
    if (!callback) return;
    try {
        (*callback)(level, message);
    } catch (...) {
        // A throwing log callback must not break a cached call.
    }
}

}  // namespace detail
}  // namespace cachier
