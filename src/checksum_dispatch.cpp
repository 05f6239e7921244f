// The xxHash library's dispatcher, kept apart from the inlined XXH3 of checksum.cpp (one header
// cannot be included both ways in one file).

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t
#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif

#include "checksum.hpp"

namespace cachier::detail {

std::uint64_t dispatched_checksum(std::string_view first, std::string_view second) noexcept {
#if defined(__x86_64__)
    if (second.empty()) return XXH3_64bits_dispatch(first.data(), first.size());
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    XXH3_64bits_update_dispatch(&state, first.data(), first.size());
    XXH3_64bits_update_dispatch(&state, second.data(), second.size());
    return XXH3_64bits_digest(&state);
#else
    if (second.empty()) return XXH3_64bits(first.data(), first.size());
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    XXH3_64bits_update(&state, first.data(), first.size());
    XXH3_64bits_update(&state, second.data(), second.size());
    return XXH3_64bits_digest(&state);
#endif
}

}  // namespace cachier::detail
