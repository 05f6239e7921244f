#include "checksum.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace cachier::detail {
namespace {

// Below this, the inlined code is about as fast, and a hit of a small value never touches (and
// so never loads the pages of, or binds) the library: first calls of a process stay cheap.
constexpr std::size_t dispatch_from = 4096;

}  // namespace

std::uint64_t value_checksum(std::string_view bytes) noexcept {
    if (bytes.size() >= dispatch_from) return dispatched_checksum(bytes, {});
    return XXH3_64bits(bytes.data(), bytes.size());
}

std::uint64_t value_checksum(std::string_view first, std::string_view second) noexcept {
    if (second.empty()) return value_checksum(first);
    if (first.size() + second.size() >= dispatch_from) return dispatched_checksum(first, second);
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    XXH3_64bits_update(&state, first.data(), first.size());
    XXH3_64bits_update(&state, second.data(), second.size());
    return XXH3_64bits_digest(&state);
}

}  // namespace cachier::detail
