#pragma once
/// @file logging.hpp
/// @brief Where cachier reports what it does: verbose call decisions and backend problems.

#include <functional>
#include <string_view>

namespace cachier {

/// How important a log message is.
enum class log_level {
    debug,    ///< verbose call decisions (fresh hit, stale, waiting, computing)
    warning,  ///< a problem that cachier worked around (backend down, corrupt entry)
    error     ///< a problem that lost work (a value that could not be stored)
};

/// Receives every log message. It may be called from any thread, including background workers.
using log_callback = std::function<void(log_level level, std::string_view message)>;

/// Replaces the log callback. The default writes each message as one line to stderr.
/// Passing an empty callback silences cachier.
void set_log_callback(log_callback callback);

/// Restores the default callback, which writes to stderr.
void reset_log_callback();

/// The name of a level: "debug", "warning" or "error".
[[nodiscard]] std::string_view to_string(log_level level) noexcept;

}  // namespace cachier
