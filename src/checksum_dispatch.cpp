// The xxHash library's dispatcher, kept apart from the inlined XXH3 of checksum.cpp (one header
// cannot be included both ways in one file).

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t
#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif

#include "checksum.hpp"

namespace cachier::detail {
namespace {

// On x86-64 the dispatcher's entry points, which pick the CPU's widest vector unit; elsewhere the
// library's plain ones.
#if defined(__x86_64__)
constexpr auto hash_whole = XXH3_64bits_dispatch;
constexpr auto hash_more = XXH3_64bits_update_dispatch;
#else
constexpr auto hash_whole = XXH3_64bits;
constexpr auto hash_more = XXH3_64bits_update;
#endif

}  // namespace

std::uint64_t dispatched_checksum(std::string_view first, std::string_view second) noexcept {
    if (second.empty()) return hash_whole(first.data(), first.size());
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    hash_more(&state, first.data(), first.size());
    hash_more(&state, second.data(), second.size());
    return XXH3_64bits_digest(&state);
}

}  // namespace cachier::detail
