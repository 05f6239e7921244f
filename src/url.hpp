#pragma once
// Parsing of backend URLs: scheme://[user[:password]@]host[:port][/path][?key=value&...]
// Errors are url_error naming the part that is wrong; messages never contain the password.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <cachier/errors.hpp>

namespace cachier::detail {

struct parsed_url {
    std::string raw;  // the URL as given (may hold a password: never put it in a message)
    std::string scheme;
    std::string user;
    std::optional<std::string> password;
    std::string host;
    std::optional<int> port;
    std::string path;  // percent-decoded, with its leading '/'
    std::vector<std::pair<std::string, std::string>> query;
};

/// Splits a URL; throws url_error("scheme" | "host" | "port" | "query" | ...). The authority
/// ":memory:" (SQLite's in-memory database) is a host of that name.
[[nodiscard]] parsed_url parse_url(std::string_view url);

/// The URL with everything that could be its user name or password replaced by "***", for
/// messages; safe on malformed URLs too.
[[nodiscard]] std::string redact_url(std::string_view url);

/// `text` with every byte but letters, digits and - . _ ~ written as %XX.
[[nodiscard]] std::string percent_encode(std::string_view text);

/// `url` with its user name and password (as `parsed` split them: up to the last '@') written
/// percent-encoded, so that a client library that splits at the first '@' agrees.
[[nodiscard]] std::string with_encoded_userinfo(std::string_view url, const parsed_url& parsed);

/// `message` (from a client library, say) with the URL's user name and password, decoded or as
/// written, replaced by "***" (those of 3 characters or more: shorter ones would hide words).
[[nodiscard]] std::string scrub_secrets(std::string message, const parsed_url& url);

/// Decodes %XX escapes; throws url_error(part) on a malformed escape.
[[nodiscard]] std::string percent_decode(std::string_view text, const std::string& part);

/// A duration option of a URL: "500ms", "2s", "1m", "1h", or a bare number of seconds.
[[nodiscard]] std::chrono::milliseconds parse_url_duration(std::string_view text, const std::string& part);

/// A non-negative integer option of a URL.
[[nodiscard]] long long parse_url_integer(std::string_view text, const std::string& part);

/// A count option of a URL that must be at least 1.
[[nodiscard]] std::size_t parse_url_count(std::string_view text, const std::string& part);

/// The error for a URL option its backend does not know; `known` lists the ones it does.
[[nodiscard]] url_error unknown_url_option(std::string_view name, std::string_view known);

/// The error for a factory of a backend this build does not contain.
[[nodiscard]] backend_not_built backend_not_in_build(std::string_view name, std::string_view cmake_option,
                                                     std::string_view packages);

}  // namespace cachier::detail
