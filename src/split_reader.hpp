#pragma once
// Reading a stored value straight into the buffer that becomes the caller's result. A backend that
// can (the file backend: one preadv) implements this beside the backend interface; the engine
// uses it for results that are bytes held in one buffer (std::string), so that a hit copies each
// byte once, from the store into the result, instead of into a buffer and then into the result.

#include <chrono>
#include <cstddef>
#include <string>

#include <cachier/backend.hpp>

namespace cachier::detail {

/// What a split read found.
struct split_read {
    /// As backend::read returns it; when `split`, its entry's value holds only the first bytes.
    read_result found;
    /// The rest of the value, in a buffer of its own, when `split`.
    std::string body;
    /// Whether the value was split (it was at least as long as the head asked for).
    bool split = false;
};

/// A backend that can read a value in two parts.
class split_reader {
public:
    /// Reads like backend::read(ref, max_age), or with `claim` like backend::read_or_claim(ref,
    /// *claim); a fresh value of at least `head_size` bytes comes in two parts: its first
    /// `head_size` bytes in the entry's value, the rest in `body`. Throws backend_error like them.
    virtual void read_split(const key_ref& ref, std::chrono::nanoseconds max_age, std::size_t head_size,
                            const claim_request* claim, split_read& out) = 0;

protected:
    split_reader() = default;
    split_reader(const split_reader&) = default;
    split_reader& operator=(const split_reader&) = default;
    ~split_reader() = default;
};

}  // namespace cachier::detail
