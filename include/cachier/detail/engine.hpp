#pragma once
// Private: the non-template engine that every cached call goes through. The typed layer
// (cached_function.hpp) only turns arguments into key bytes and values into bytes.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <cachier/call_status.hpp>
#include <cachier/metrics.hpp>
#include <cachier/options.hpp>

namespace cachier::detail {

/// Bytes the typed layer leaves free at the front of every encoded value, for the engine's
/// integrity envelope (filled in place, so a stored value is never copied).
inline constexpr std::size_t value_room = 20;

/// What one computation produced: the encoded value, or nothing when it could not be encoded.
struct computed_value {
    /// value_room free bytes, then the encoding; empty: the value cannot be encoded (reported, not stored)
    std::optional<std::string> bytes;
    /// The rest of the encoding, after `bytes`, where it is a result's own bytes (a std::string's),
    /// held by the call site until the call ends; empty when `bytes` holds it all.
    std::string_view tail;
    bool is_none = false;              ///< the function returned an empty std::optional
    std::string encode_error;          ///< why `bytes` is empty
};

/// The typed side of one call, as the engine sees it.
class call_site {
public:
    /// Calls the wrapped function, keeps its result for the caller and returns its encoding.
    virtual computed_value compute() = 0;
    /// Decodes stored bytes into the caller's result; false when they are not a valid value.
    virtual bool adopt(std::string_view bytes) = 0;
    /// A self-contained computation (owning copies of the arguments) for a background refresh.
    virtual std::function<computed_value()> detach() = 0;
    /// Copies a value the in-process tier keeps (of the result type) into the caller's result.
    virtual void take(const void* kept) = 0;
    /// Gives the caller a value the in-process tier keeps (of the result type): a reference where
    /// the caller asked for one, else a copy.
    virtual void take_shared(std::shared_ptr<const void> kept) = 0;
    /// The caller's result, shared and immutable, for the in-process tier to keep.
    virtual std::shared_ptr<const void> share() = 0;
    /// For a result of bytes in one buffer (byte_prefix() > 0): makes `bytes` the result when
    /// `prefix`, the encoding that precedes them, says that many bytes follow; false otherwise.
    virtual bool adopt_bytes(std::string_view prefix, std::string&& bytes) = 0;

    /// Whether the result type copies as cheaply as a few machine words: the tier then copies it
    /// while it holds its lock, instead of taking a reference first.
    [[nodiscard]] bool copies_cheaply() const noexcept { return copies_cheaply_; }

    /// The size of the result type when the tier may keep a value's bytes in place of a shared
    /// copy (trivially copyable, at most 16 bytes, aligned to at most 16); otherwise 0.
    [[nodiscard]] std::size_t inline_size() const noexcept { return inline_size_; }

    /// When the result type is bytes in one buffer (std::string), whose encoding is a prefix and
    /// then the bytes themselves: the prefix's size, so that a read can put the bytes straight
    /// into the buffer that becomes the result (adopt_bytes); otherwise 0.
    [[nodiscard]] std::size_t byte_prefix() const noexcept { return byte_prefix_; }

protected:
    call_site(bool copies_cheaply, std::size_t inline_size, std::size_t byte_prefix = 0) noexcept
        : copies_cheaply_(copies_cheaply), inline_size_(inline_size), byte_prefix_(byte_prefix) {}
    call_site(const call_site&) = default;
    call_site& operator=(const call_site&) = default;
    ~call_site() = default;

private:
    bool copies_cheaply_;
    std::size_t inline_size_;
    std::size_t byte_prefix_;
};

/// An empty buffer to encode a computed value into: one the calling thread used before, so that
/// encoding a large value writes into memory already mapped. The engine takes it back once stored.
std::string encode_buffer();

/// The state one cached function shares between its copies: name, options, metrics.
class function_state;

std::shared_ptr<function_state> make_function_state(std::string name, options opts);
call_status run_call(function_state& state, const call_options& call, std::string_view key_bytes, call_site& site);
/// Adopts the fresh stored value of a key into `site`; false when there is none (never computes,
/// claims or waits; a failing backend is reported and reads as none).
bool peek(function_state& state, std::string_view key_bytes, call_site& site);
/// Removes the stored value of a key; true when there was one.
bool invalidate(function_state& state, std::string_view key_bytes);
/// Stores `value_bytes` (value_room free bytes, then the encoding) as the value of a key.
void precache(function_state& state, std::string_view key_bytes, std::string value_bytes);
void clear_cache(function_state& state);
void clear_being_calculated(function_state& state);
std::optional<std::filesystem::path> cache_dpath(function_state& state);
metrics_snapshot read_metrics(function_state& state);
const std::string& function_name(const function_state& state) noexcept;

}  // namespace cachier::detail
