#pragma once
// The file backend's entry format, in one place:
//   8 bytes  magic "CACHIER" + format version (3)
//   8 bytes  time stored, nanoseconds since the Unix epoch (little-endian, signed)
//   8 bytes  time it expires, nanoseconds since the Unix epoch; 0: never
//   8 bytes  value length n (little-endian)
//   n bytes  value (the engine's envelope and the encoded value: the envelope checks the value)
//   8 bytes  XXH3-64 of the three header fields
// A file that is shorter or longer than its header says, or whose header fails the checksum, is
// treated as absent; a file of another format version (an earlier release's) is a miss and is
// rewritten by the next store. Version 2 files held values without the engine's envelope, which
// releases of version 2 cannot tell from theirs: the version keeps each release to its own files.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cachier::detail::file_format {

inline constexpr std::size_t header_size = 32;
inline constexpr std::size_t trailer_size = 8;

using header = std::array<char, header_size>;
using trailer = std::array<char, trailer_size>;
using time_point = std::chrono::system_clock::time_point;

/// What a header says.
struct header_fields {
    time_point stored_at;
    std::optional<time_point> expires_at;
    std::uint64_t value_length = 0;
};

/// Why a header cannot be used.
enum class header_problem { none, not_an_entry, other_version };

/// Header and trailer for a value of `value_length` bytes.
void frame(std::uint64_t value_length, time_point stored_at, std::optional<time_point> expires_at, header& head,
           trailer& tail);

/// The fields of a header, or the reason it cannot be read.
std::optional<header_fields> parse(const header& head, header_problem& problem);

/// True when the trailer matches the header.
bool intact(const header& head, const trailer& tail);

}  // namespace cachier::detail::file_format
