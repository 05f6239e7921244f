// sql_backend: SQLite or PostgreSQL, chosen by the URL's scheme; cachier's own URL options become
// sql_options fields, the rest of the URL is the engine's.

#include <algorithm>
#include <cctype>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "../../backend_registry.hpp"
#include "sql_common.hpp"

namespace cachier {
namespace detail::sql {

void check_table_name(const std::string& name) {
    const bool ok = !name.empty() && name.size() <= 63 && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                    std::all_of(name.begin(), name.end(), [](char c) {
                        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                    });
    if (!ok) throw url_error("table", "table names are 1 to 63 letters, digits and _, not starting with a digit");
}

namespace {

bool is_sqlite(std::string_view scheme) { return scheme == "sqlite"; }
bool is_postgres(std::string_view scheme) { return scheme == "postgresql" || scheme == "postgres"; }

/// sql_options from a parsed URL: cachier's options (table, pool_size, busy_timeout) are taken out;
/// a PostgreSQL URL keeps every other query item, as written, for libpq.
sql_options options_from_url(const parsed_url& u) {
    sql_options o;
    const bool sqlite = is_sqlite(u.scheme);
    if (sqlite) {
        if (u.host == ":memory:") {
            o.url = "sqlite://:memory:";
        } else if (u.host.empty() && !u.port && u.path.size() > 1) {
            o.url = "sqlite://" + u.path;
        } else {
            throw url_error("path", "expected sqlite:///absolute/path.db or sqlite://:memory:");
        }
    } else if (!is_postgres(u.scheme)) {
        throw url_error("scheme", "expected sqlite:// or postgresql://, got \"" + u.scheme + "://\"");
    }
    for (const auto& [name, value] : u.query) {
        if (name == "table") o.table = value;
        else if (name == "pool_size") o.pool.size = parse_url_count(value, "pool_size");
        else if (name == "busy_timeout" && sqlite) o.busy_timeout = parse_url_duration(value, "busy_timeout");
        else if (name == "command_timeout" && !sqlite) o.command_timeout = parse_url_duration(value, "command_timeout");
        else if (sqlite) throw unknown_url_option(name, "table, busy_timeout, pool_size");
    }
    if (!sqlite) {
        // Rebuild the query from the raw items, so that libpq reads its parameters as written.
        const std::string_view raw = u.raw;
        const auto q = raw.find('?');
        o.url = std::string(raw.substr(0, q));
        std::string kept;
        std::string_view query = q == std::string_view::npos ? std::string_view() : raw.substr(q + 1);
        while (!query.empty()) {
            const auto amp = query.find('&');
            const std::string_view item = query.substr(0, amp);
            query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
            const std::string name = percent_decode(item.substr(0, item.find('=')), "query");
            if (item.empty() || name == "table" || name == "pool_size" || name == "command_timeout") continue;
            kept.append(kept.empty() ? "?" : "&").append(item);
        }
        o.url += kept;
    }
    return o;
}

}  // namespace

#ifndef CACHIER_HAS_SQLITE
std::shared_ptr<backend> make_sqlite_backend(const sql_options&) {
    throw backend_not_in_build("sqlite", "CACHIER_WITH_SQLITE", "libsqlite3-dev");
}
#endif
#ifndef CACHIER_HAS_POSTGRES
std::shared_ptr<backend> make_postgres_backend(const sql_options&) {
    throw backend_not_in_build("postgres", "CACHIER_WITH_POSTGRES", "libpq-dev");
}
#endif

}  // namespace detail::sql

detail::scheme_list detail::sql_schemes() {
    const auto make = [](const parsed_url& url) { return sql_backend(sql::options_from_url(url)); };
    return {{"sqlite", make}, {"postgresql", make}, {"postgres", make}};
}

std::shared_ptr<backend> sql_backend(std::string_view url) {
    return sql_backend(detail::sql::options_from_url(detail::parse_url(url)));
}

std::shared_ptr<backend> sql_backend(const sql_options& options) {
    detail::sql::check_table_name(options.table);
    if (options.pool.size == 0) throw url_error("pool_size", "pool_size must be at least 1");
    const std::string_view scheme = std::string_view(options.url).substr(0, options.url.find("://"));
    if (detail::sql::is_sqlite(scheme)) return detail::sql::make_sqlite_backend(options);
    if (detail::sql::is_postgres(scheme)) return detail::sql::make_postgres_backend(options);
    throw url_error("scheme", "expected sqlite:// or postgresql://, got \"" + detail::redact_url(options.url) + "\"");
}

}  // namespace cachier
