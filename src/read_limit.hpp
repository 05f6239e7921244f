#pragma once
// The most bytes one read may take for a stored value, for the calling thread: the engine sets it
// (read_size_limit) around its reads, so that a backend can refuse a larger value before it
// allocates for it (the file backend knows the size from the file before reading it).

#include <cstdint>

namespace cachier::detail {

/// The limit of the calling thread's current read; unlimited outside the engine's reads.
[[nodiscard]] std::uint64_t read_limit() noexcept;

/// Sets the calling thread's read limit while it lives.
class read_limit_scope {
public:
    explicit read_limit_scope(std::uint64_t limit) noexcept;
    ~read_limit_scope();
    read_limit_scope(const read_limit_scope&) = delete;
    read_limit_scope& operator=(const read_limit_scope&) = delete;

private:
    std::uint64_t previous_;
};

}  // namespace cachier::detail
