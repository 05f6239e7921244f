#pragma once
// Seeds for the engine's random choices (claim tokens, jitter, early refresh). std::random_device
// costs tens of microseconds to construct here, which a process's first cached call would pay.

#include <cstdint>

namespace cachier::detail {

/// 64 bits from the kernel's random source (getrandom), or from the clock, process id and an
/// address when it cannot answer at once.
[[nodiscard]] std::uint64_t random_seed() noexcept;

}  // namespace cachier::detail
