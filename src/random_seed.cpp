#include "random_seed.hpp"

#include <chrono>

#include <sys/random.h>
#include <unistd.h>

namespace cachier::detail {

std::uint64_t random_seed() noexcept {
    std::uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == static_cast<ssize_t>(sizeof(seed))) return seed;
    // splitmix64 over what differs between processes and calls.
    seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
           (static_cast<std::uint64_t>(::getpid()) << 32) ^ reinterpret_cast<std::uintptr_t>(&seed);
    seed += 0x9e3779b97f4a7c15ULL;
    seed = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9ULL;
    seed = (seed ^ (seed >> 27)) * 0x94d049bb133111ebULL;
    return seed ^ (seed >> 31);
}

}  // namespace cachier::detail
