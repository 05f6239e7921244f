#pragma once
// The checksum of stored values (XXH3-64). Large values are hashed by the xxHash library, on
// x86-64 through its dispatcher, which picks the widest vector unit of the running CPU (AVX-512 or
// AVX2 hash large values several times faster than the SSE2 code a portable build inlines); small
// ones by inlined code.

#include <cstdint>
#include <string_view>

namespace cachier::detail {

/// XXH3-64 of `bytes`, the same on every CPU.
[[nodiscard]] std::uint64_t value_checksum(std::string_view bytes) noexcept;

/// XXH3-64 of `first` followed by `second`, as if they were one string.
[[nodiscard]] std::uint64_t value_checksum(std::string_view first, std::string_view second) noexcept;

/// The same through the library's dispatcher (checksum_dispatch.cpp).
[[nodiscard]] std::uint64_t dispatched_checksum(std::string_view first, std::string_view second) noexcept;

}  // namespace cachier::detail
