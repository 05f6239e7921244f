// redis:// and redis+unix:// URLs to redis_options.

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "../url.hpp"
#include "redis_url.hpp"

namespace cachier::detail::redis {

redis_options options_from_url(std::string_view url) {
    const parsed_url u = parse_url(url);
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
            o.pool_size = static_cast<std::size_t>(parse_url_integer(value, "pool_size"));
            if (o.pool_size == 0) throw url_error("pool_size", "pool_size must be at least 1");
        } else if (name == "entry_ttl") {
            o.entry_ttl = parse_url_duration(value, "entry_ttl");
        } else {
            throw url_error("query", "unknown option \"" + name +
                                         "\" (expected prefix, db, connect_timeout, command_timeout, pool_size, "
                                         "entry_ttl)");
        }
    }
    return o;
}

}  // namespace cachier::detail::redis
