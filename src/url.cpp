#include "url.hpp"

#include <cctype>
#include <charconv>

#include <cachier/errors.hpp>

namespace cachier::detail {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string percent_decode(std::string_view text, const std::string& part) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out.push_back(text[i]);
            continue;
        }
        const int high = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
        const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
        if (high < 0 || low < 0) throw url_error(part, "malformed %-escape");
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
    }
    return out;
}

std::string redact_url(std::string_view url) {
    // Whatever the URL looks like, everything that could be user or password goes: from the start
    // of the authority (or of the text, when there is no "://" before it) to the last '@'.
    const auto at = url.rfind('@');
    if (at == std::string_view::npos) return std::string(url);
    const auto scheme_end = url.find("://");
    const std::size_t start = scheme_end == std::string_view::npos || scheme_end > at ? 0 : scheme_end + 3;
    return std::string(url.substr(0, start)) + "***" + std::string(url.substr(at));
}

std::string percent_encode(std::string_view text) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(digits[byte >> 4]);
            out.push_back(digits[byte & 15]);
        }
    }
    return out;
}

std::string with_encoded_userinfo(std::string_view url, const parsed_url& parsed) {
    const auto scheme_end = url.find("://");
    const auto at = url.rfind('@');
    if (scheme_end == std::string_view::npos || at == std::string_view::npos || at < scheme_end + 3)
        return std::string(url);
    std::string out(url.substr(0, scheme_end + 3));
    out.append(percent_encode(parsed.user));
    if (parsed.password) out.append(1, ':').append(percent_encode(*parsed.password));
    out.append(url.data() + at, url.size() - at);
    return out;
}

std::string scrub_secrets(std::string message, const parsed_url& url) {
    auto hide = [&message](const std::string& secret) {
        if (secret.size() < 3) return;  // shorter ones cannot be told from the message's own words
        for (auto at = message.find(secret); at != std::string::npos; at = message.find(secret, at + 3))
            message.replace(at, secret.size(), "***");
    };
    if (url.password) hide(*url.password);
    hide(url.user);
    for (const auto& [name, value] : url.query)
        if (name == "password" || name == "user") hide(value);  // libpq takes them in the query too
    const std::string_view raw = url.raw;
    if (const auto scheme_end = raw.find("://"), at = raw.rfind('@');
        scheme_end != std::string_view::npos && at != std::string_view::npos && at > scheme_end + 3)
    {  // the userinfo as written, and its parts
        const std::string written(raw.substr(scheme_end + 3, at - scheme_end - 3));
        hide(written);
        const auto colon = written.find(':');
        hide(written.substr(0, colon));
        if (colon != std::string::npos) hide(written.substr(colon + 1));
    }
    return message;
}

parsed_url parse_url(std::string_view url) {
    parsed_url out;
    out.raw = std::string(url);
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0)
        throw url_error("scheme", "expected scheme://..., got \"" + redact_url(url) + "\"");
    out.scheme = std::string(url.substr(0, scheme_end));
    std::string_view rest = url.substr(scheme_end + 3);

    // An '@' after the authority means a user name or password holding '/', '?' or '#' unescaped:
    // the URL cannot be split reliably, and no part of it may be quoted (it may be the password).
    const auto authority_length = rest.find_first_of("/?#");
    if (authority_length != 0 && authority_length != std::string_view::npos &&
        rest.find('@', authority_length) != std::string_view::npos)
        throw url_error("user", "the URL holds an '@' after its host; in a user name or password, write / ? # @ "
                                "and % as %2F %3F %23 %40 and %25 (the URL is not shown: it may hold a password)");

    if (const auto hash = rest.find('#'); hash != std::string_view::npos)
        throw url_error("fragment", "a backend URL takes no #fragment");
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        std::string_view query = rest.substr(q + 1);
        rest = rest.substr(0, q);
        while (!query.empty()) {
            const auto amp = query.find('&');
            const std::string_view item = query.substr(0, amp);
            query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
            if (item.empty()) continue;
            const auto eq = item.find('=');
            if (eq == std::string_view::npos || eq == 0)
                throw url_error("query", "expected name=value, got \"" + std::string(item) + "\"");
            out.query.emplace_back(percent_decode(item.substr(0, eq), "query"),
                                   percent_decode(item.substr(eq + 1), "query"));
        }
    }

    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    out.path = slash == std::string_view::npos ? "" : percent_decode(rest.substr(slash), "path");

    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        const auto colon = userinfo.find(':');
        out.user = percent_decode(userinfo.substr(0, colon), "user");
        if (colon != std::string_view::npos) out.password = percent_decode(userinfo.substr(colon + 1), "password");
    }

    std::string_view host = authority;
    std::string_view port;
    if (authority == ":memory:") {
        out.host = ":memory:";
        return out;
    }
    if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
        const auto close = authority.find(']');
        if (close == std::string_view::npos) throw url_error("host", "unclosed '[' in an IPv6 address");
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') throw url_error("host", "unexpected text after ']'");
            port = authority.substr(close + 2);
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    out.host = percent_decode(host, "host");
    if (!port.empty() || (authority.size() > 0 && authority.back() == ':')) {
        int value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535)
            throw url_error("port", "expected a port from 1 to 65535, got \"" + std::string(port) + "\"");
        out.port = value;
    }
    return out;
}

long long parse_url_integer(std::string_view text, const std::string& part) {
    long long value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0)
        throw url_error(part, "expected a non-negative integer, got \"" + std::string(text) + "\"");
    return value;
}

std::size_t parse_url_count(std::string_view text, const std::string& part) {
    const long long value = parse_url_integer(text, part);
    if (value < 1) throw url_error(part, part + " must be at least 1");
    return static_cast<std::size_t>(value);
}

url_error unknown_url_option(std::string_view name, std::string_view known) {
    return url_error("query", "unknown option \"" + std::string(name) + "\" (expected " + std::string(known) + ")");
}

backend_not_built backend_not_in_build(std::string_view name, std::string_view cmake_option, std::string_view packages) {
    return backend_not_built("the " + std::string(name) + " backend is not part of this build of cachier; install " +
                             std::string(packages) + " and configure with -D" + std::string(cmake_option) + "=ON");
}

std::chrono::milliseconds parse_url_duration(std::string_view text, const std::string& part) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    const std::string_view unit = text.substr(digits);
    const long long number = parse_url_integer(text.substr(0, digits), part);
    if (unit.empty() || unit == "s") return std::chrono::seconds(number);
    if (unit == "ms") return std::chrono::milliseconds(number);
    if (unit == "m") return std::chrono::minutes(number);
    if (unit == "h") return std::chrono::hours(number);
    throw url_error(part, "expected a duration such as 500ms, 2s, 5m or 1h, got \"" + std::string(text) + "\"");
}

}  // namespace cachier::detail
