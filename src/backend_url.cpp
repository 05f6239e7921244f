// backend_from_url: one parsed URL, handed to the backend that registered its scheme; and the
// factories of backends this build does not contain.

#include <string>

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

std::shared_ptr<backend> backend_from_url(std::string_view url) {
    const detail::parsed_url parsed = detail::parse_url(url);
    std::string known;
    for (const auto& s : detail::all_schemes()) {
        if (s.scheme == parsed.scheme) return s.make(parsed);
        known += (known.empty() ? "" : ", ") + std::string(s.scheme);
    }
    throw url_error("scheme", "unknown scheme \"" + parsed.scheme + "\" (expected one of " + known + ")");
}

}  // namespace cachier
