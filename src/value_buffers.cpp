#include "value_buffers.hpp"

#include <utility>

namespace cachier::detail {
namespace {

// Buffers above this are not kept: a thread that once read a huge value does not hold its memory.
constexpr std::size_t largest_kept = std::size_t{32} << 20;
// Nor below this: small buffers cost little to make again, and do not displace a larger one.
constexpr std::size_t smallest_kept = 4096;
// Nor used for values much smaller than they are: a buffer handed out may end up held with its
// value (a copy keeps only the value's own size, but a move keeps the whole capacity).
constexpr std::size_t slack_allowed = 4096;

thread_local std::string spare;

}  // namespace

std::string take_value_buffer(std::size_t size) {
    if (spare.capacity() >= size && spare.capacity() <= 2 * size + slack_allowed) {
        std::string buffer = std::move(spare);
        spare = std::string();
        // Shrinking writes one terminator; growing within capacity fills only the new bytes.
        buffer.resize(size);
        return buffer;
    }
    return std::string(size, '\0');
}

std::string take_encode_buffer() noexcept {
    std::string buffer = std::move(spare);
    spare = std::string();
    buffer.clear();
    return buffer;
}

void recycle_value_buffer(std::string&& buffer) noexcept {
    if (buffer.capacity() > largest_kept || buffer.capacity() < smallest_kept) return;
    spare = std::move(buffer);
}

}  // namespace cachier::detail
