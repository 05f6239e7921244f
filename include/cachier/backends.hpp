#pragma once
/// @file backends.hpp
/// @brief Factories for the built-in backends.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <cachier/backend.hpp>
#include <cachier/units.hpp>

namespace cachier {

/// A thread-safe in-process backend. Entries live as long as the returned object.
[[nodiscard]] std::shared_ptr<backend> memory_backend();

/// Settings of a tiered backend.
struct tiered_options {
    /// How long a value kept in the process is served without reading the shared store again.
    /// Where the store does not push other processes' changes (file, SQLite, S3, MongoDB without a
    /// replica set), the most such a change can go unseen. Where it does (Redis, PostgreSQL, MongoDB
    /// replica sets), kept values are dropped as each change is heard, and this only bounds a change
    /// whose notification was lost, or an entry's own expiry (Redis entry_ttl), which nobody
    /// reports. At least 1 ms.
    duration max_staleness = std::chrono::seconds(1);
    /// Values the in-process tier keeps at most (a byte-level copy per entry, besides the decoded
    /// values of each cached function). At least 1.
    std::size_t max_entries = 100'000;
};

/// An in-process tier in front of a shared store: `near` (in-process storage, e.g. memory_backend())
/// keeps copies of the values read from `shared`, which holds the claims and the truth.
/// A hit kept in the process costs no round trip; each cached function also keeps its decoded
/// values in front of it. Other processes' changes are seen as `shared` reports them, or within
/// `max_staleness` where it reports none. Throws config_error when `near` is shared between
/// processes. By URL: `tiered+redis://...`, `tiered+file:///...` (any scheme, with the query
/// option `tier_max_age`, a duration).
[[nodiscard]] std::shared_ptr<backend> tiered_backend(std::shared_ptr<backend> near, std::shared_ptr<backend> shared,
                                                      const tiered_options& options = {});

/// Settings of the file backend.
struct file_backend_options {
    /// Where entries live; empty means the default directory ($XDG_CACHE_HOME/cachier or ~/.cachier).
    std::filesystem::path directory;
    /// fsync each entry and its directory before a store returns (durable across power loss).
    bool fsync = false;
};

/// The default backend: one directory per function, one file per entry, written atomically,
/// shared safely by every thread and process using the same directory.
[[nodiscard]] std::shared_ptr<backend> file_backend(const file_backend_options& options = {});

/// The file backend in `directory`.
[[nodiscard]] std::shared_ptr<backend> file_backend(const std::filesystem::path& directory);

/// The directory the file backend uses by default: $XDG_CACHE_HOME/cachier, else ~/.cachier.
[[nodiscard]] std::filesystem::path default_cache_dir();

/// A backend from a URL:
///  - `memory://` a new in-process backend
///  - `file:///absolute/path` (or `file://` for the default directory)
///  - `sqlite:///path.db`, `postgresql://...`, `redis://...`, `mongodb://...`, `s3://...` where this
///    build contains that backend; otherwise throws backend_not_built.
///  - `tiered+<any of these>` the same store behind an in-process tier (tiered_backend with a new
///    memory backend), e.g. `tiered+redis://127.0.0.1:6379/0?tier_max_age=500ms`
/// Throws url_error naming the wrong part of a malformed URL.
[[nodiscard]] std::shared_ptr<backend> backend_from_url(std::string_view url);

/// Settings of the connections a backend keeps to its server or database, shared by its threads.
struct pool_options {
    std::size_t size = 8;  ///< connections kept for concurrent callers (at least 1)
    /// How long a caller waits for a free connection before its call is reported and computed
    /// without the cache. Unset: the backend's command timeout (Redis), or 5 s (SQL).
    std::optional<duration> wait_timeout;
};

/// Settings of the SQL backend.
struct sql_options {
    /// Where the database is: `sqlite:///absolute/path.db`, `sqlite://:memory:` (one database per
    /// backend object, shared by the process's threads), or a `postgresql://` URL, whose query may
    /// carry any libpq parameter (`sslmode`, `application_name`, ...). Passwords never appear in
    /// errors or logs.
    std::string url;
    std::string table = "cachier_cache";  ///< the table: 1 to 63 letters, digits and _
    pool_options pool;                     ///< connections (always one for sqlite://:memory:)
    /// SQLite: how long a writer waits for another process's lock.
    duration busy_timeout = std::chrono::seconds(5);
    /// PostgreSQL: how long a connection attempt may take (libpq's connect_timeout, unless the URL sets it).
    duration connect_timeout = std::chrono::seconds(2);
    /// PostgreSQL: how long one statement may take before its connection is dropped and the call
    /// goes on without the cache (a server that stopped answering); also the server's
    /// statement_timeout, so that the statement stops there too.
    duration command_timeout = std::chrono::seconds(2);
};

/// The SQL backend (SQLite or PostgreSQL, by the URL's scheme). The URL may also carry the
/// options `table`, `pool_size`, `busy_timeout` (SQLite) and `command_timeout` (PostgreSQL), e.g.
/// `sqlite:///c.db?table=app&busy_timeout=2s`.
/// Throws url_error naming the wrong part of a malformed URL, backend_not_built for an engine this
/// build does not contain.
[[nodiscard]] std::shared_ptr<backend> sql_backend(std::string_view url);

/// The SQL backend from options.
[[nodiscard]] std::shared_ptr<backend> sql_backend(const sql_options& options);

/// Settings of the Redis backend.
struct redis_options {
    std::string host = "127.0.0.1";          ///< server host (ignored when unix_socket is set)
    int port = 6379;                         ///< server port
    std::string unix_socket;                 ///< path of a Unix socket, instead of host and port
    int db = 0;                              ///< database number (SELECT)
    std::string user;                        ///< ACL user; empty: the default user
    std::string password;                    ///< AUTH password; never shown in errors or logs
    std::string prefix = "cachier";          ///< first part of every key: {prefix}:{function}:{digest}
    duration connect_timeout = std::chrono::seconds(2);  ///< to connect (and AUTH, SELECT)
    duration command_timeout = std::chrono::seconds(2);  ///< for one command's reply
    pool_options pool;                       ///< connections shared by the process's threads
    /// A native expiry: Redis drops an entry this long after it was stored. Off by default, so that
    /// next_time can still serve stale values.
    std::optional<duration> entry_ttl;
};

/// The Redis backend, from a URL:
///  - `redis://[[user][:password]@]host[:port][/db][?option=value&...]`
///  - `redis+unix:///path/to/redis.sock[?db=N&...]`
/// Options: prefix, connect_timeout, command_timeout (durations such as 500ms or 2s), pool_size,
/// entry_ttl. `rediss://` (TLS) throws backend_not_built: this build's hiredis has no TLS.
/// Throws url_error naming the wrong part of a malformed URL, or backend_not_built without Redis.
[[nodiscard]] std::shared_ptr<backend> redis_backend(std::string_view url);

/// The Redis backend from options; throws backend_not_built in builds without it.
[[nodiscard]] std::shared_ptr<backend> redis_backend(const redis_options& options);

/// The MongoDB backend; throws backend_not_built in builds without it.
[[nodiscard]] std::shared_ptr<backend> mongo_backend(std::string_view url, std::string_view collection);

/// Settings of the S3 backend. Credentials never travel in a URL: they come from here, else from
/// the environment, as the AWS tools read it.
struct s3_backend_options {
    std::string bucket;             ///< bucket name (3 to 63 lowercase letters, digits, '.' and '-')
    std::string prefix = "cachier"; ///< the first part of every object key: {prefix}/{function}/...
    /// e.g. "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:7480"; empty: $AWS_ENDPOINT_URL,
    /// else AWS's endpoint of the region.
    std::string endpoint;
    std::string region;             ///< empty: $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1
    std::string access_key_id;      ///< empty: $AWS_ACCESS_KEY_ID
    std::string secret_access_key;  ///< empty: $AWS_SECRET_ACCESS_KEY; never shown in errors or logs
    std::string session_token;      ///< empty: $AWS_SESSION_TOKEN (temporary credentials)
    /// Path-style (`endpoint/bucket/key`) or virtual-hosted (`bucket.endpoint/key`) addressing.
    /// Unset: virtual-hosted on AWS's own endpoints, path-style on any other endpoint.
    std::optional<bool> path_style;
    duration connect_timeout = std::chrono::seconds(2);  ///< to open a connection
    /// How long one request may take, retries of 5xx and SlowDown replies included; past it the
    /// call goes on without the cache and the failure is reported.
    duration request_timeout = std::chrono::seconds(5);
    pool_options pool;              ///< kept-alive connections shared by the process's threads
    /// The largest value one PUT may store: AWS takes 5 GiB in one PUT, other S3 servers may take
    /// less. A larger value is returned to the caller and reported (a backend error), not stored.
    byte_size max_object_size = byte_size(std::uint64_t{5} << 30);
};

/// The S3 backend. Throws config_error for a bad bucket name, endpoint or missing credentials,
/// backend_not_built in builds without it.
[[nodiscard]] std::shared_ptr<backend> s3_backend(const s3_backend_options& options);

/// The S3 backend from a URL: `s3://bucket[/prefix][?endpoint=...&region=...&path_style=true&
/// connect_timeout=2s&request_timeout=5s&pool_size=8&max_object_size=5GiB]`. A URL holding credentials is refused.
[[nodiscard]] std::shared_ptr<backend> s3_backend(std::string_view url);

}  // namespace cachier
