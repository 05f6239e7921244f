// s3:// URLs and s3_backend_options to checked settings (credentials from the options or the
// environment, never from a URL); and the S3 backend's URL scheme.

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <cachier/errors.hpp>

#include "../../backend_registry.hpp"
#include "s3_settings.hpp"

namespace cachier::detail::s3 {
namespace {

std::string from_environment(const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
}

/// `given`, else the first environment variable of `names` that is set and not empty.
std::string or_environment(const std::string& given, std::initializer_list<const char*> names) {
    if (!given.empty()) return given;
    for (const char* name : names)
        if (auto value = from_environment(name); !value.empty()) return value;
    return {};
}

// S3's rules for bucket names that work with both addressing styles.
void check_bucket(const std::string& bucket) {
    const bool allowed = std::all_of(bucket.begin(), bucket.end(), [](unsigned char c) {
        return std::islower(c) || std::isdigit(c) || c == '-' || c == '.';
    });
    if (bucket.size() < 3 || bucket.size() > 63 || !allowed || !std::isalnum(static_cast<unsigned char>(bucket.front())) ||
        !std::isalnum(static_cast<unsigned char>(bucket.back())) || bucket.find("..") != std::string::npos)
        throw config_error("s3: bucket name \"" + bucket +
                           "\" is not valid: 3 to 63 lowercase letters, digits, '.' and '-', starting and ending "
                           "with a letter or digit");
}

std::string checked_endpoint(std::string endpoint) {
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    const auto scheme_end = endpoint.find("://");
    const std::string scheme = scheme_end == std::string::npos ? "" : endpoint.substr(0, scheme_end);
    if ((scheme != "http" && scheme != "https") || endpoint.size() == scheme_end + 3 ||
        endpoint.find_first_of("/?#@ ", scheme_end + 3) != std::string::npos)
        throw config_error("s3: endpoint \"" + redact_url(endpoint) +
                           "\" is not valid: http://host[:port] or https://host[:port], without a path or credentials");
    return endpoint;
}

std::string trimmed_prefix(std::string prefix) {
    while (!prefix.empty() && prefix.front() == '/') prefix.erase(prefix.begin());
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (prefix.find("//") != std::string::npos) throw config_error("s3: prefix \"" + prefix + "\" holds an empty part (//)");
    return prefix;
}

std::chrono::milliseconds positive(duration d, const char* name) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d.get());
    if (ms <= std::chrono::milliseconds::zero()) throw config_error(std::string("s3: ") + name + " must be positive");
    return ms;
}

}  // namespace

backend_not_built not_built() {
    return backend_not_in_build("s3", "CACHIER_WITH_S3", "libcurl4-openssl-dev libpugixml-dev");
}

namespace {

byte_size url_byte_size(const std::string& value, const std::string& name) {
    try {
        return byte_size(value);
    } catch (const config_error&) {
        throw url_error("query", "option " + name + " takes a size such as 5GiB or 1048576, got \"" + value + "\"");
    }
}

bool flag_value(const std::string& name, const std::string& value) {
    if (value == "true" || value == "1") return true;
    if (value == "false" || value == "0") return false;
    throw url_error("query", "option " + name + " takes true or false, got \"" + value + "\"");
}

}  // namespace

std::string s3_settings::description() const {
    return "s3://" + bucket + (prefix.empty() ? "" : "/" + prefix) + " at " + endpoint;
}

s3_settings resolve(const s3_backend_options& o) {
    s3_settings s;
    s.bucket = o.bucket;
    check_bucket(s.bucket);
    s.prefix = trimmed_prefix(o.prefix);
    s.region = or_environment(o.region, {"AWS_REGION", "AWS_DEFAULT_REGION"});
    if (s.region.empty()) s.region = "us-east-1";
    if (s.region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
        throw config_error("s3: region \"" + s.region + "\" is not valid (lowercase letters, digits and '-')");
    const std::string endpoint = or_environment(o.endpoint, {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"});
    const bool on_aws = endpoint.empty();
    s.endpoint = on_aws ? "https://s3." + s.region + ".amazonaws.com" : checked_endpoint(endpoint);
    s.path_style = o.path_style.value_or(!on_aws);
    if (!s.path_style && s.bucket.find('.') != std::string::npos && s.endpoint.rfind("https://", 0) == 0)
        throw config_error("s3: bucket \"" + s.bucket +
                           "\" holds a '.', which TLS certificates of virtual-hosted addresses do not cover: "
                           "set path_style");
    s.access_key_id = or_environment(o.access_key_id, {"AWS_ACCESS_KEY_ID"});
    s.secret_access_key = or_environment(o.secret_access_key, {"AWS_SECRET_ACCESS_KEY"});
    s.session_token = or_environment(o.session_token, {"AWS_SESSION_TOKEN"});
    if (s.access_key_id.empty() || s.secret_access_key.empty())
        throw config_error("s3: no credentials: set s3_backend_options::access_key_id and secret_access_key, or "
                           "$AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY");
    s.connect_timeout = positive(o.connect_timeout, "connect_timeout");
    s.request_timeout = positive(o.request_timeout, "request_timeout");
    s.pool_size = std::max<std::size_t>(1, o.pool.size);
    s.max_object_size = o.max_object_size.bytes();
    if (s.max_object_size == 0) throw config_error("s3: max_object_size must be positive");
    return s;
}

s3_backend_options options_from_url(const parsed_url& u) {
    if (u.scheme != "s3") throw url_error("scheme", "expected s3://, got \"" + u.scheme + "://\"");
    if (!u.user.empty() || u.password)
        throw url_error("userinfo", "credentials never travel in an s3:// URL: set them in s3_backend_options, or in "
                                    "$AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY");
    if (u.host.empty()) throw url_error("host", "s3:// URLs name a bucket: s3://bucket/prefix");
    if (u.port) throw url_error("port", "s3:// URLs name a bucket, not a server: give the server as ?endpoint=");
    s3_backend_options o;
    o.bucket = u.host;
    if (u.path.size() > 1) o.prefix = u.path.substr(1);
    for (const auto& [name, value] : u.query) {
        if (name == "endpoint") o.endpoint = value;
        else if (name == "region") o.region = value;
        else if (name == "path_style") o.path_style = flag_value(name, value);
        else if (name == "connect_timeout") o.connect_timeout = parse_url_duration(value, "connect_timeout");
        else if (name == "request_timeout") o.request_timeout = parse_url_duration(value, "request_timeout");
        else if (name == "pool_size") o.pool.size = parse_url_count(value, "pool_size");
        else if (name == "max_object_size") o.max_object_size = url_byte_size(value, "max_object_size");
        else
            throw unknown_url_option(
                name, "endpoint, region, path_style, connect_timeout, request_timeout, pool_size, max_object_size");
    }
    return o;
}

#ifndef CACHIER_HAS_S3
std::shared_ptr<backend> make_s3_backend(const s3_settings&) { throw not_built(); }
#endif

}  // namespace cachier::detail::s3

namespace cachier::detail {

scheme_list s3_schemes() {
    return {{"s3", [](const parsed_url& url) { return s3_backend(s3::options_from_url(url)); }}};
}

}  // namespace cachier::detail

namespace cachier {

std::shared_ptr<backend> s3_backend(const s3_backend_options& options) {
#ifndef CACHIER_HAS_S3
    throw detail::s3::not_built();  // before the settings are checked: the clearer error
#endif
    return detail::s3::make_s3_backend(detail::s3::resolve(options));
}

std::shared_ptr<backend> s3_backend(std::string_view url) {
    return s3_backend(detail::s3::options_from_url(detail::parse_url(url)));
}

}  // namespace cachier
