#pragma once
// The integrity envelope the engine puts around every value that leaves the process.
//
// Layout (20 bytes, little-endian), followed by the encoded value:
//   2 bytes  magic 0xCA 0xCE
//   1 byte   envelope format version (1)
//   1 byte   coding: 0 the value as encoded, 1 the encoded value compressed (one zstd frame)
//   8 bytes  the entry's identity: XXH3-64 of the function name and the key it was stored under
//   8 bytes  XXH3-64 of the value
// Damage, truncation, an entry copied under another key or function, and bytes of another format
// all fail open(): the engine treats them as a miss, recomputes and reports, and never decodes them.
// XXH3 catches accidents, not forgery: whoever can write to the store can write a valid envelope.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cachier::detail::envelope {

/// Room the typed layer leaves at the front of an encoded value, filled by seal().
inline constexpr std::size_t size = 20;

/// How the bytes after the envelope hold the encoded value.
enum class coding : std::uint8_t {
    plain = 0,  ///< as encoded
    zstd = 1,   ///< compressed: one zstd frame
};

/// Why stored bytes were refused.
enum class problem {
    none,
    foreign,     ///< not an envelope: an earlier release's entry, or not cachier's
    version,     ///< an envelope of a format this release does not read
    truncated,   ///< shorter than an envelope
    misplaced,   ///< an intact entry of another function or key
    damaged,     ///< the value does not match its checksum
};

/// A short description of a problem, for logs.
[[nodiscard]] const char* describe(problem p) noexcept;

/// The identity of the entry of `key` in `function`.
[[nodiscard]] std::uint64_t identity(std::string_view function, std::string_view key) noexcept;

/// Fills the first `size` bytes of `stored` (room left for it) for the value that follows, held
/// as `how` says; with `tail`, the value continues there (stored apart, checked as one).
void seal(std::string& stored, std::uint64_t identity, coding how = coding::plain, std::string_view tail = {}) noexcept;

/// The value inside `stored` when it is an intact envelope of the entry `identity`, held as `how`
/// says; otherwise empty, with the reason in `why`.
[[nodiscard]] std::optional<std::string_view> open(std::string_view stored, std::uint64_t identity, problem& why,
                                                   coding& how) noexcept;

/// Like open() for a value read in two parts: `head` (the envelope and what follows it up to
/// `body`) and `body`. Returns what follows the envelope in `head`.
[[nodiscard]] std::optional<std::string_view> open_split(std::string_view head, std::string_view body,
                                                         std::uint64_t identity, problem& why, coding& how) noexcept;

}  // namespace cachier::detail::envelope
