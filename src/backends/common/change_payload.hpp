#pragma once
// The text a server carries for one change (Redis PUBLISH, PostgreSQL NOTIFY), shared by the drivers
// that push changes: one letter for what happened, then the entry's key (none for a change of
// every entry of the function). The channel names the function.

#include <optional>
#include <string>
#include <string_view>

#include <cachier/backend.hpp>

namespace cachier::detail::change_payload {

inline constexpr char stored = 's';
inline constexpr char removed = 'r';
inline constexpr char cleared = 'c';
inline constexpr char claim_released = 'x';

/// A change as the server carries it.
struct parsed {
    change_kind kind;
    std::string_view key;  // empty: every entry of the function
};

/// Reads a payload; empty when it is not one of ours.
inline std::optional<parsed> parse(std::string_view payload) {
    if (payload.empty()) return std::nullopt;
    const std::string_view key = payload.substr(1);
    switch (payload.front()) {
        case stored: return parsed{change_kind::stored, key};
        case removed: return parsed{change_kind::removed, key};
        case cleared: return parsed{change_kind::cleared, key};
        case claim_released: return parsed{change_kind::claim_released, key};
        default: return std::nullopt;
    }
}

}  // namespace cachier::detail::change_payload
