#pragma once
// redis://, redis+unix:// and rediss:// URLs to redis_options (no client library needed).

#include <string_view>

#include <cachier/backends.hpp>

#include "../../url.hpp"

namespace cachier::detail::redis {

/// The options a parsed Redis URL names; throws url_error, or backend_not_built for TLS.
redis_options options_from_url(const parsed_url& url);

/// The same from the URL's text.
redis_options options_from_url(std::string_view url);

}  // namespace cachier::detail::redis
