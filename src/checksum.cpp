#include "checksum.hpp"

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

}  // namespace cachier::detail
