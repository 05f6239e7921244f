#pragma once

#include <string_view>

#include <cachier/backends.hpp>

namespace cachier::detail::redis {

/// Parses a redis://, redis+unix:// or rediss:// URL; throws url_error or backend_not_built (TLS).
redis_options options_from_url(std::string_view url);

}  // namespace cachier::detail::redis
