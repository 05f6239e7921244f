#pragma once
// Buffers that stored values are read into and computed values encoded into. Each thread keeps the last buffer the engine gave back
// once it had decoded the value: reading the next value of about the same size into it touches
// pages already mapped and fills no bytes twice, where a fresh buffer per read costs a page fault
// per 4 KiB (the allocator returns freed large buffers to the system) and a pass of zeros.

#include <cstddef>
#include <string>

namespace cachier::detail {

/// A buffer of `size` bytes (their contents unspecified) to read a stored value into.
[[nodiscard]] std::string take_value_buffer(std::size_t size);

/// An empty buffer to encode a value into: the calling thread's recycled one, whatever its size
/// (an encoding is stored and given back, never kept).
[[nodiscard]] std::string take_encode_buffer() noexcept;

/// Gives back a buffer whose value has been decoded or stored, for the calling thread's next read
/// or encoding.
void recycle_value_buffer(std::string&& buffer) noexcept;

}  // namespace cachier::detail
