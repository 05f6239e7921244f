#pragma once
// Internal logging entry point: formats nothing unless a callback is installed.

#include <string_view>

#include <cachier/logging.hpp>

namespace cachier::detail {

/// Sends one message to the log callback (if any). Never throws.
void log(log_level level, std::string_view message) noexcept;

}  // namespace cachier::detail
