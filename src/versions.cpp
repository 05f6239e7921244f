// Versions of a function (options::version) as backends see them: each version's entries are kept
// under a name of their own, so that one version never reads another's and old versions go with
// one clear each.

#include <vector>

#include <cachier/backend.hpp>

namespace cachier {

namespace {
constexpr char version_separator = '\xFF';  // never in UTF-8 text
}

std::string stored_function_name(std::string_view function, std::string_view version) {
    std::string stored(function);
    if (!version.empty()) {
        stored += version_separator;
        stored += version;
    }
    return stored;
}

versioned_name split_stored_function_name(std::string_view stored) {
    // Versions never hold the separator, so the last one ends the name.
    const auto at = stored.rfind(version_separator);
    if (at == std::string_view::npos) return {std::string(stored), {}};
    return {std::string(stored.substr(0, at)), std::string(stored.substr(at + 1))};
}

std::uint64_t remove_other_versions(backend& store, std::string_view function, std::string_view keep) {
    std::vector<function_info> others;
    store.list_functions([&](const function_info& f) {
        const versioned_name v = split_stored_function_name(f.name);
        if (v.function == function && v.version != keep) others.push_back(f);
        return true;
    });
    std::uint64_t removed = 0;
    for (const auto& f : others) {
        store.clear(f.name);
        removed += f.entries;
    }
    return removed;
}

}  // namespace cachier
