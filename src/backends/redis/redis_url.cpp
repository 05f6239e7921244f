// redis:// and redis+unix:// URLs to redis_options, and the Redis backend's URL schemes.

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "../../backend_registry.hpp"
#include "redis_url.hpp"

namespace cachier::detail::redis {

redis_options options_from_url(std::string_view url) { return options_from_url(parse_url(url)); }

redis_options options_from_url(const parsed_url& u) {
    redis_options o;
    if (u.scheme == "rediss")
        throw backend_not_built("rediss:// needs TLS, which this build's hiredis (0.14) does not have; "
                                "use redis:// on a trusted network or through a TLS tunnel");
    if (u.scheme == "redis") {
        if (u.host.empty()) throw url_error("host", "redis URLs need a host: redis://host:port/db");
        o.host = u.host;
        o.port = u.port.value_or(6379);
        if (!u.path.empty() && u.path != "/") {
            o.db = static_cast<int>(parse_url_integer(u.path.substr(1), "db"));
        }
    } else if (u.scheme == "redis+unix" || u.scheme == "unix") {
        if (!u.host.empty() || u.port) throw url_error("host", "Unix socket URLs take no host: redis+unix:///path/to.sock");
        if (u.path.size() < 2) throw url_error("path", "Unix socket URLs need the socket's path");
        o.unix_socket = u.path;
    } else {
        throw url_error("scheme", "expected redis://, rediss:// or redis+unix://, got \"" + u.scheme + "://\"");
    }
    o.user = u.user;
    o.password = u.password.value_or("");
    for (const auto& [name, value] : u.query) {
        if (name == "prefix") {
            if (value.empty()) throw url_error("query", "prefix cannot be empty");
            o.prefix = value;
        } else if (name == "db") {
            o.db = static_cast<int>(parse_url_integer(value, "db"));
        } else if (name == "connect_timeout") {
            o.connect_timeout = parse_url_duration(value, "connect_timeout");
        } else if (name == "command_timeout") {
            o.command_timeout = parse_url_duration(value, "command_timeout");
        } else if (name == "pool_size") {
            o.pool.size = parse_url_count(value, "pool_size");
        } else if (name == "entry_ttl") {
            o.entry_ttl = parse_url_duration(value, "entry_ttl");
        } else {
            throw unknown_url_option(name, "prefix, db, connect_timeout, command_timeout, pool_size, entry_ttl");
        }
    }
    return o;
}

}  // namespace cachier::detail::redis

namespace cachier::detail {

scheme_list redis_schemes() {
    const auto make = [](const parsed_url& url) { return redis_backend(redis::options_from_url(url)); };
    return {{"redis", make}, {"rediss", make}, {"redis+unix", make}, {"unix", make}};
}

}  // namespace cachier::detail

namespace cachier {

std::shared_ptr<backend> redis_backend(std::string_view url) {
    return redis_backend(detail::redis::options_from_url(url));
}

#ifndef CACHIER_HAS_REDIS
std::shared_ptr<backend> redis_backend(const redis_options&) {
    throw detail::backend_not_in_build("redis", "CACHIER_WITH_REDIS", "libhiredis-dev");
}
#endif

}  // namespace cachier
