#pragma once
// The file backend's entry format, in one place:
//   8 bytes  magic "CACHIER" + format version 1
//   8 bytes  time stored, nanoseconds since the Unix epoch (little-endian, signed)
//   8 bytes  value length n (little-endian)
//   n bytes  value
//   8 bytes  XXH3-64 of everything after the magic and before this field
// A file that is shorter, longer or fails the checksum is treated as absent.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cachier::detail::file_format {

inline constexpr std::size_t header_size = 24;
inline constexpr std::size_t trailer_size = 8;

using header = std::array<char, header_size>;
using trailer = std::array<char, trailer_size>;

/// Header and trailer for a value stored at `stored_at`.
void frame(std::string_view value, std::chrono::system_clock::time_point stored_at, header& head, trailer& tail);

/// The value length a header announces, or empty when the magic is wrong.
std::optional<std::uint64_t> value_length(const header& head);

/// The time a header records.
std::chrono::system_clock::time_point stored_at(const header& head);

/// True when the trailer matches the header and value.
bool intact(const header& head, std::string_view value, const trailer& tail);

}  // namespace cachier::detail::file_format
