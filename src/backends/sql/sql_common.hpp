#pragma once
// What the SQL backends (SQLite and PostgreSQL) share: the schema version, the table name rules, and
// how sql_backend reaches each engine.

#include <memory>
#include <string>

#include <cachier/backends.hpp>

namespace cachier::detail::sql {

/// The schema this release writes; a table with a higher version was made by a newer cachier.
inline constexpr int schema_version = 2;

/// The table that records each cache table's schema version.
inline constexpr const char* versions_table = "cachier_schema_versions";

/// Throws url_error("table") unless `name` is a plain SQL identifier (letters, digits, _).
void check_table_name(const std::string& name);

/// The SQLite backend; options.url is sqlite:///absolute/path or sqlite://:memory: (checked).
std::shared_ptr<backend> make_sqlite_backend(const sql_options& options);

/// The PostgreSQL backend; options.url is a postgresql:// URL without cachier's own options.
std::shared_ptr<backend> make_postgres_backend(const sql_options& options);

}  // namespace cachier::detail::sql
