// backend_from_url: one parsed URL, handed to the backend that registered its scheme; and the
// factories of backends this build does not contain.

#include <string>
#include <string_view>

#include <cachier/units.hpp>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "backend_registry.hpp"

namespace cachier {
namespace detail {
namespace {

const scheme_list& all_schemes() {
    static const scheme_list schemes = [] {
        scheme_list all;
        for (auto part : {memory_schemes(), file_schemes(), sql_schemes(), redis_schemes(), mongo_schemes(),
                          s3_schemes()})
            all.insert(all.end(), part.begin(), part.end());
        return all;
    }();
    return schemes;
}

}  // namespace
}  // namespace detail

namespace detail {
namespace {

bool is_store_limit(std::string_view name) { return name == "max_entries" || name == "max_bytes"; }

/// Removes the query options `taken` names from the raw text of `url` (which some backends hand on to
/// their client library) and from its parsed query.
template <class Taken>
void remove_options(parsed_url& url, Taken&& taken) {
    std::erase_if(url.query, [&](const auto& item) { return taken(item.first); });
    const auto q = url.raw.find('?');
    if (q == std::string::npos) return;
    std::string kept;
    std::string_view query = std::string_view(url.raw).substr(q + 1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (item.empty() || taken(percent_decode(item.substr(0, item.find('=')), "query"))) continue;
        kept.append(kept.empty() ? "?" : "&").append(item);
    }
    url.raw = url.raw.substr(0, q) + kept;
}

constexpr std::string_view tiered_prefix = "tiered+";

/// `tiered+<scheme>://...`: the store of `<scheme>://...` behind an in-process tier; the query
/// option tier_max_age is the tier's (tiered_options::max_staleness).
std::shared_ptr<backend> tiered_from_url(parsed_url& url) {
    tiered_options options;
    for (const auto& [name, value] : url.query)
        if (name == "tier_max_age") options.max_staleness = parse_url_duration(value, "tier_max_age");
    remove_options(url, [](std::string_view name) { return name == "tier_max_age"; });
    const std::string inner = url.raw.substr(url.raw.find('+') + 1);
    if (inner.starts_with(tiered_prefix)) throw url_error("scheme", "a tiered store cannot be tiered again");
    return tiered_backend(memory_backend(), backend_from_url(inner), options);
}

/// Takes the store limits (max_entries, max_bytes: options of every scheme) out of `url`, from both
/// its parsed query and its raw text (which some backends hand on to their client library).
entry_limits take_store_limits(parsed_url& url) {
    entry_limits limits;
    for (const auto& [name, value] : url.query) {
        if (name == "max_entries") {
            limits.max_entries = parse_url_count(value, "max_entries");
            if (*limits.max_entries == 0) throw url_error("max_entries", "max_entries must be at least 1");
        } else if (name == "max_bytes") {
            try {
                limits.max_bytes = byte_size(value).bytes();
            } catch (const config_error&) {
                throw url_error("max_bytes", "max_bytes takes a size such as 4096, 64KB or 512MiB");
            }
            if (*limits.max_bytes == 0) throw url_error("max_bytes", "max_bytes must be at least 1 byte");
        }
    }
    if (!limits.max_entries && !limits.max_bytes) return limits;
    remove_options(url, is_store_limit);
    return limits;
}

}  // namespace
}  // namespace detail

std::shared_ptr<backend> backend_from_url(std::string_view url) {
    detail::parsed_url parsed = detail::parse_url(url);
    const entry_limits limits = detail::take_store_limits(parsed);
    if (parsed.scheme.starts_with(detail::tiered_prefix)) {
        // The limits apply to the tiered store: the engine evicts through it, from both tiers.
        auto store = detail::tiered_from_url(parsed);
        if (limits.max_entries || limits.max_bytes) store->set_store_limits(limits);
        return store;
    }
    std::string known;
    for (const auto& s : detail::all_schemes()) {
        if (s.scheme == parsed.scheme) {
            auto store = s.make(parsed);
            if (limits.max_entries || limits.max_bytes) store->set_store_limits(limits);
            return store;
        }
        known += (known.empty() ? "" : ", ") + std::string(s.scheme);
    }
    throw url_error("scheme", "unknown scheme \"" + parsed.scheme + "\" (expected one of " + known + ")");
}

}  // namespace cachier
