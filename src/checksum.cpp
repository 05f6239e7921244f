#include "checksum.hpp"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t, for checksums of values in two parts
#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif

namespace cachier::detail {

std::uint64_t value_checksum(std::string_view bytes) noexcept {
#if defined(__x86_64__)
    return XXH3_64bits_dispatch(bytes.data(), bytes.size());
#else
    return XXH3_64bits(bytes.data(), bytes.size());
#endif
}

std::uint64_t value_checksum(std::string_view first, std::string_view second) noexcept {
    if (second.empty()) return value_checksum(first);
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
#if defined(__x86_64__)
    XXH3_64bits_update_dispatch(&state, first.data(), first.size());
    XXH3_64bits_update_dispatch(&state, second.data(), second.size());
#else
    XXH3_64bits_update(&state, first.data(), first.size());
    XXH3_64bits_update(&state, second.data(), second.size());
#endif
    return XXH3_64bits_digest(&state);
}

}  // namespace cachier::detail
