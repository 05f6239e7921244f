#pragma once
// What the SQL backends share: their URL settings, the table name rules and the schema version.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <cachier/backend.hpp>

namespace cachier::detail::sql {

/// The schema this release writes; a table with a higher version was made by a newer cachier.
inline constexpr int schema_version = 1;

/// The table that records each cache table's schema version.
inline constexpr const char* versions_table = "cachier_schema_versions";

/// Settings from a sqlite:// URL.
struct sqlite_settings {
    std::string path;            // empty for an in-memory database
    std::string table = "cachier_cache";
    std::chrono::milliseconds busy_timeout{5000};
    std::size_t pool_size = 8;
};

/// Settings from a postgresql:// URL.
struct postgres_settings {
    std::string conninfo;        // the URL for libpq, without cachier's own options
    std::string description;     // postgresql://user@host:port/db, never with the password
    std::string table = "cachier_cache";
    std::size_t pool_size = 8;
};

/// Throws url_error("table") unless `name` is a plain SQL identifier (letters, digits, _).
void check_table_name(const std::string& name);

std::shared_ptr<backend> make_sqlite_backend(const sqlite_settings& settings);
std::shared_ptr<backend> make_postgres_backend(const postgres_settings& settings);

}  // namespace cachier::detail::sql
