#pragma once
// zstd compression of stored values. A compressed value is one zstd frame that records its
// decompressed size; reading one never allocates more than the caller's limit, whatever the frame
// claims, and refuses a frame followed by anything else.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cachier::detail {

/// zstd's lowest and highest levels.
[[nodiscard]] std::pair<int, int> compression_levels() noexcept;

/// Whether `level` is one of zstd's (0 is not: it means off).
[[nodiscard]] bool compression_level_valid(int level) noexcept;

/// `encoded` compressed at `level`, after `room` free bytes at the front; empty when it would not
/// be smaller than `encoded`.
[[nodiscard]] std::optional<std::string> compress(std::string_view encoded, int level, std::size_t room);

/// Why a frame could not be decompressed.
enum class decompress_problem { none, damaged, too_large };

/// Decompresses the frame `compressed` into `out` (replacing its contents), refusing a result of
/// more than `limit` bytes.
[[nodiscard]] decompress_problem decompress(std::string_view compressed, std::uint64_t limit, std::string& out);

}  // namespace cachier::detail
