#pragma once
// Reading and planting a backend's stored entries directly, for the suite's integrity tests.

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include <cachier/backend.hpp>

namespace cachier::test {

inline constexpr auto never_stale = std::chrono::nanoseconds::max();

/// The keys of a function's entries, as its backend lists them.
inline std::vector<std::string> keys_of(backend& store, const std::string& function) {
    std::vector<std::string> keys;
    store.list_entries(function, [&](const entry_info& e) {
        if (e.has_value) keys.push_back(e.key);
        return true;
    });
    return keys;
}

/// The one key `call` adds to `function`'s entries.
template <class Call>
std::string key_added_by(backend& store, const std::string& function, Call&& call) {
    const auto before = keys_of(store, function);
    call();
    for (const auto& k : keys_of(store, function))
        if (std::find(before.begin(), before.end(), k) == before.end()) return k;
    ADD_FAILURE() << "the call stored no entry";
    return {};
}

/// The bytes the backend holds for `key` of `function` (empty when none).
inline std::string stored_bytes(backend& store, const std::string& function, const std::string& key) {
    const auto found = store.read({function, key}, never_stale);
    return found.entry ? found.entry->value : std::string();
}

/// Stores `bytes` as they are for `key` of `function`.
inline void put(backend& store, const std::string& function, const std::string& key, std::string_view bytes) {
    store_request request;
    request.value = bytes;
    store.store({function, key}, request);
}

}  // namespace cachier::test
