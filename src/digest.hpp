#pragma once
// Entry keys: SHA-256 of the function name and the encoded arguments.

#include <array>
#include <string>
#include <string_view>

namespace cachier::detail {

/// A key as 64 lowercase hex characters, kept on the stack.
struct hex_key {
    std::array<char, 64> chars{};
    [[nodiscard]] std::string_view view() const noexcept { return {chars.data(), chars.size()}; }
};

/// The bytes every key of `function` starts with: its length (8 bytes, little-endian) and the name,
/// so that ("ab", "c") and ("a", "bc") differ. Computed once per function.
[[nodiscard]] std::string key_prefix(std::string_view function);

/// SHA-256 over a function's key prefix followed by the encoded arguments.
[[nodiscard]] hex_key digest_key(std::string_view prefix, std::string_view key_bytes);

/// SHA-256 of `data` as hex.
[[nodiscard]] hex_key sha256_hex(std::string_view data);

/// SHA-1 of `data` as 40 hex characters (how Redis names a cached script; not for security).
[[nodiscard]] std::string sha1_hex(std::string_view data);

}  // namespace cachier::detail
