// sql_backend(url): SQLite or PostgreSQL, chosen by the URL's scheme.

#include <algorithm>
#include <cctype>

#include <libpq-fe.h>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "../url.hpp"
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

sqlite_settings sqlite_from_url(std::string_view url) {
    sqlite_settings s;
    std::string_view rest = url.substr(std::string_view("sqlite://").size());
    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    if (rest == ":memory:") {
        s.pool_size = 1;
    } else if (!rest.empty() && rest.front() == '/' && rest.size() > 1) {
        s.path = percent_decode(rest, "path");
    } else {
        throw url_error("path", "expected sqlite:///absolute/path.db or sqlite://:memory:");
    }
    std::string options_url = "x://h";  // only the query matters here
    if (!query.empty()) options_url.append("?").append(query);
    const parsed_url options = parse_url(options_url);
    for (const auto& [name, value] : options.query) {
        if (name == "table") {
            check_table_name(value);
            s.table = value;
        } else if (name == "busy_timeout") {
            s.busy_timeout = parse_url_duration(value, "busy_timeout");
        } else if (name == "pool_size") {
            s.pool_size = static_cast<std::size_t>(parse_url_integer(value, "pool_size"));
            if (s.pool_size == 0) throw url_error("pool_size", "pool_size must be at least 1");
            if (s.path.empty()) s.pool_size = 1;  // one in-memory database, one connection
        } else {
            throw url_error("query", "unknown option \"" + name + "\" (expected table, busy_timeout, pool_size)");
        }
    }
    return s;
}

postgres_settings postgres_from_url(std::string_view url) {
    const parsed_url u = parse_url(url);  // checks the general shape and names the wrong part
    postgres_settings s;
    std::string libpq_query;
    bool has_connect_timeout = false;
    for (const auto& [name, value] : u.query) {
        if (name == "table") {
            check_table_name(value);
            s.table = value;
        } else if (name == "pool_size") {
            s.pool_size = static_cast<std::size_t>(parse_url_integer(value, "pool_size"));
            if (s.pool_size == 0) throw url_error("pool_size", "pool_size must be at least 1");
        } else {
            has_connect_timeout = has_connect_timeout || name == "connect_timeout";
            if (!libpq_query.empty()) libpq_query.append("&");
            libpq_query.append(name).append("=").append(value);
        }
    }
    if (!has_connect_timeout) libpq_query.append(libpq_query.empty() ? "" : "&").append("connect_timeout=2");
    const auto q = url.find('?');
    s.conninfo = std::string(url.substr(0, q)) + "?" + libpq_query;
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(s.conninfo.c_str(), &error);
    if (parsed == nullptr) {
        std::string why = error != nullptr ? error : "cannot parse";
        PQfreemem(error);
        while (!why.empty() && why.back() == '\n') why.pop_back();
        throw url_error("query", why);
    }
    PQconninfoFree(parsed);
    s.description = "postgresql://";
    if (!u.user.empty()) s.description.append(u.user).append("@");
    s.description.append(u.host.empty() ? "localhost" : u.host);
    if (u.port) s.description.append(":").append(std::to_string(*u.port));
    s.description.append(u.path);
    return s;
}

}  // namespace
}  // namespace detail::sql

std::shared_ptr<backend> sql_backend(std::string_view url) {
    const auto scheme_end = url.find("://");
    const std::string_view scheme = url.substr(0, scheme_end);
    if (scheme == "sqlite") return detail::sql::make_sqlite_backend(detail::sql::sqlite_from_url(url));
    if (scheme == "postgresql" || scheme == "postgres")
        return detail::sql::make_postgres_backend(detail::sql::postgres_from_url(url));
    throw url_error("scheme", "expected sqlite:// or postgresql://, got \"" + detail::redact_url(url) + "\"");
}

}  // namespace cachier
