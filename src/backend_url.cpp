// backend_from_url and the factories of backends this build does not contain.

#include <string>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "url.hpp"

namespace cachier {
namespace {

[[noreturn]] void not_built(std::string_view name, std::string_view option, std::string_view packages) {
    throw backend_not_built("the " + std::string(name) + " backend is not part of this build of cachier; install " +
                            std::string(packages) + " and configure with -D" + std::string(option) + "=ON");
}

}  // namespace

std::shared_ptr<backend> backend_from_url(std::string_view url) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0)
        throw url_error("scheme", "expected scheme://..., got \"" + detail::redact_url(url) + "\"");
    const std::string_view scheme = url.substr(0, scheme_end);
    const std::string_view rest = url.substr(scheme_end + 3);
    if (scheme == "memory") {
        if (!rest.empty() && rest != "/") throw url_error("path", "memory:// takes no path, got \"" + detail::redact_url(url) + "\"");
        return memory_backend();
    }
    if (scheme == "file") {
        if (rest.empty()) return file_backend();
        if (rest.front() != '/')
            throw url_error("path", "file URLs take an absolute path (file:///abs/dir), got \"" + detail::redact_url(url) + "\"");
        if (rest.find_first_of("?#") != std::string_view::npos)
            throw url_error("path", "file URLs take no query or fragment, got \"" + detail::redact_url(url) + "\"");
        return file_backend(std::filesystem::path(rest));
    }
    if (scheme == "sqlite" || scheme == "postgresql" || scheme == "postgres") return sql_backend(url);
    if (scheme == "redis" || scheme == "rediss" || scheme == "redis+unix" || scheme == "unix") return redis_backend(url);
    if (scheme == "mongodb" || scheme == "mongodb+srv") return mongo_backend(url, "cachier");
    if (scheme == "s3") not_built("s3", "CACHIER_WITH_S3", "libcurl4-openssl-dev");
    throw url_error("scheme", "unknown scheme \"" + std::string(scheme) +
                                  "\" (expected memory, file, sqlite, postgresql, redis, mongodb or s3)");
}

#ifndef CACHIER_HAS_SQL
std::shared_ptr<backend> sql_backend(std::string_view) { not_built("sql", "CACHIER_WITH_SQL", "libsqlite3-dev and libpq-dev"); }
#endif
#ifndef CACHIER_HAS_REDIS
std::shared_ptr<backend> redis_backend(std::string_view) { not_built("redis", "CACHIER_WITH_REDIS", "libhiredis-dev"); }
std::shared_ptr<backend> redis_backend(const redis_options&) {
    not_built("redis", "CACHIER_WITH_REDIS", "libhiredis-dev");
}
#endif
#ifndef CACHIER_HAS_MONGO
std::shared_ptr<backend> mongo_backend(std::string_view, std::string_view) {
    not_built("mongo", "CACHIER_WITH_MONGO", "libmongoc-dev");
}
#endif
#ifndef CACHIER_HAS_S3
std::shared_ptr<backend> s3_backend(const s3_backend_options&) { not_built("s3", "CACHIER_WITH_S3", "libcurl4-openssl-dev"); }
#endif

}  // namespace cachier
