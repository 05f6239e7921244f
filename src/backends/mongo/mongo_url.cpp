// mongodb:// URLs: cachier's own options (collection, ttl_index) taken out, the rest handed to
// libmongoc; and the MongoDB backend's URL schemes.

#include <algorithm>
#include <cctype>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "../../backend_registry.hpp"
#include "mongo_settings.hpp"

namespace cachier::detail::mongo {
namespace {

std::string lowercase(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

bool flag_value(const std::string& name, const std::string& value) {
    const std::string v = lowercase(value);
    if (v == "true" || v == "1") return true;
    if (v == "false" || v == "0") return false;
    throw url_error("query", "option " + name + " takes true or false, got \"" + value + "\"");
}

}  // namespace

mongo_settings settings_from_url(const parsed_url& u, std::string_view collection) {
    if (u.scheme != "mongodb" && u.scheme != "mongodb+srv")
        throw url_error("scheme", "expected mongodb:// or mongodb+srv://, got \"" + u.scheme + "://\"");
    if (u.host.empty()) throw url_error("host", "MongoDB URLs need a host: mongodb://host:27017/database");
    mongo_settings s;
    s.collection = std::string(collection);
    s.database = u.path.size() > 1 ? u.path.substr(1) : "cachier";
    if (s.database.find_first_of("/\\. \"$") != std::string::npos)
        throw url_error("path", "a MongoDB database name cannot hold / \\ . space \" or $");
    // Rebuild the query without cachier's own option, each item as written, for libmongoc.
    const std::string_view raw = u.raw;
    const auto q = raw.find('?');
    s.uri = with_encoded_userinfo(raw.substr(0, q), u);
    std::string_view query = q == std::string_view::npos ? std::string_view() : raw.substr(q + 1);
    std::string kept;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const std::string name = percent_decode(item.substr(0, item.find('=')), "query");
        if (item.empty()) continue;
        const std::string value = item.find('=') == std::string_view::npos
                                      ? std::string()
                                      : percent_decode(item.substr(item.find('=') + 1), "query");
        if (name == "collection") {
            s.collection = value;
            continue;
        }
        if (name == "ttl_index") {
            s.ttl_index = flag_value(name, value);
            continue;
        }
        // libmongoc's option names are case-insensitive.
        if (lowercase(name) == "replicaset" && !value.empty()) s.replica_set_named = true;
        kept.append(kept.empty() ? "?" : "&").append(item);
    }
    s.uri += kept;
    if (s.collection.empty() || s.collection.find_first_of("$\0", 0, 2) != std::string::npos ||
        s.collection.rfind("system.", 0) == 0)
        throw url_error("collection", "a collection name is not empty, holds no $ or NUL, and does not start "
                                      "with \"system.\"");
    if (u.scheme == "mongodb+srv") s.replica_set_named = true;  // SRV records name a replica set's members
    s.description = redact_url(raw.substr(0, q));
    s.url = u;
    return s;
}

}  // namespace cachier::detail::mongo

namespace cachier::detail {

scheme_list mongo_schemes() {
    const auto make = [](const parsed_url& url) {
        return mongo::make_mongo_backend(mongo::settings_from_url(url, "cachier"));
    };
    return {{"mongodb", make}, {"mongodb+srv", make}};
}

#ifndef CACHIER_HAS_MONGO
std::shared_ptr<backend> mongo::make_mongo_backend(const mongo_settings&) {
    throw backend_not_in_build("mongo", "CACHIER_WITH_MONGO", "libmongoc-dev");
}
#endif

}  // namespace cachier::detail

namespace cachier {

std::shared_ptr<backend> mongo_backend(std::string_view url, std::string_view collection) {
    return detail::mongo::make_mongo_backend(detail::mongo::settings_from_url(detail::parse_url(url), collection));
}

}  // namespace cachier
