#pragma once
// Private: the archives behind cachier's encoding. Users never name these types directly.
//
// The format is cereal's archive model written in fixed little-endian byte order with 64-bit sizes,
// so the same value gives the same bytes on every machine and compiler. The reader trusts nothing:
// every length is checked against the bytes that remain, nesting is limited, and the memory the
// standard containers take is charged against a budget proportional to the input (see
// portable_containers.hpp). The writer checks the same limits, so that what is stored can be read.

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include <cereal/cereal.hpp>

#include <cachier/errors.hpp>

namespace cachier::detail {

static_assert(std::numeric_limits<float>::is_iec559 && std::numeric_limits<double>::is_iec559,
              "cachier needs IEEE 754 floating point");

/// Values nested deeper than this (a container in a container, a member of a member, ...) are
/// neither encoded nor decoded: decoding recurses once per level, and a hostile input must not
/// be able to exhaust the stack.
inline constexpr std::size_t max_nesting_depth = 256;
/// Decoding n bytes may make the standard containers take at most
/// allocation_factor * n + allocation_allowance bytes (besides strings and arrays of numbers,
/// which never take more than n).
inline constexpr std::size_t allocation_factor = 64;
inline constexpr std::size_t allocation_allowance = 64 * 1024;

/// The container memory that decoding `encoded_size` bytes may take.
[[nodiscard]] constexpr std::size_t allocation_budget(std::size_t encoded_size) noexcept {
    std::size_t budget = 0;
    if (__builtin_mul_overflow(encoded_size, allocation_factor, &budget) ||
        __builtin_add_overflow(budget, allocation_allowance, &budget))
        return std::numeric_limits<std::size_t>::max();
    return budget;
}

/// Throws the serialization_error of a value nested too deep (out of line: decoding is a hot path).
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_too_deep() {
    throw serialization_error("value nests deeper than " + std::to_string(max_nesting_depth) + " levels");
}

/// Throws the serialization_error of a value that would take too much memory.
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_too_large() {
    throw serialization_error("value would take more memory than its encoding allows (more than " +
                              std::to_string(allocation_factor) + " times its size plus " +
                              std::to_string(allocation_allowance / 1024) + " KiB): it could not be read back");
}

/// Nesting depth and container memory of one encoding or decoding.
class archive_limits {
public:
    void enter() {
        if (++depth_ > max_nesting_depth) throw_too_deep();
    }
    void leave() noexcept { --depth_; }

    /// Adds `count` elements of `each` bytes; past `budget`, throws before anything is allocated.
    void charge(std::size_t count, std::size_t each, std::size_t budget) {
        std::size_t bytes = 0;
        if (__builtin_mul_overflow(count, each, &bytes) || __builtin_add_overflow(charged_, bytes, &charged_) ||
            charged_ > budget)
            throw_too_large();
    }
    [[nodiscard]] std::size_t charged() const noexcept { return charged_; }

private:
    std::size_t depth_ = 0;
    std::size_t charged_ = 0;
};

/// Appends values to a byte string.
class portable_writer : public cereal::OutputArchive<portable_writer, cereal::AllowEmptyClassElision> {
public:
    /// A writer for keys: no limits (keys are never decoded).
    explicit portable_writer(std::string& out) : portable_writer(out, nullptr) {}

    /// A writer that accounts depth and container memory in `limits` (null: none), shared with the
    /// writers nested in it.
    portable_writer(std::string& out, archive_limits* limits)
        : cereal::OutputArchive<portable_writer, cereal::AllowEmptyClassElision>(this), out_(out), limits_(limits) {}

    /// Writes `size` bytes made of elements of `element_size` bytes, in little-endian order.
    void write_elements(const void* data, std::size_t size, std::size_t element_size) {
        const auto* bytes = static_cast<const char*>(data);
        if constexpr (std::endian::native == std::endian::little) {
            out_.append(bytes, size);
        } else {
            for (std::size_t i = 0; i < size; i += element_size)
                for (std::size_t j = element_size; j-- > 0;) out_.push_back(bytes[i + j]);
        }
    }

    [[nodiscard]] archive_limits* limits() const noexcept { return limits_; }

    /// Accounts what a decoder will allocate for `count` elements of `each` bytes (checked at the end).
    void charge(std::size_t count, std::size_t each) {
        if (limits_ != nullptr) limits_->charge(count, each, std::numeric_limits<std::size_t>::max());
    }

private:
    std::string& out_;
    archive_limits* limits_;
};

/// Reads values back from a byte string; throws serialization_error on anything malformed or past
/// the limits.
class portable_reader : public cereal::InputArchive<portable_reader, cereal::AllowEmptyClassElision> {
public:
    explicit portable_reader(std::string_view in)
        : cereal::InputArchive<portable_reader, cereal::AllowEmptyClassElision>(this), in_(in) {}

    void read_elements(void* data, std::size_t size, std::size_t element_size) {
        if (size > in_.size() - pos_) throw serialization_error("encoded value is truncated");
        auto* bytes = static_cast<char*>(data);
        if constexpr (std::endian::native == std::endian::little) {
            if (size != 0) std::memcpy(bytes, in_.data() + pos_, size);
        } else {
            for (std::size_t i = 0; i < size; i += element_size)
                for (std::size_t j = 0; j < element_size; ++j) bytes[i + element_size - 1 - j] = in_[pos_ + i + j];
        }
        pos_ += size;
    }

    [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }

    /// The next `size` bytes of the input, read in place.
    [[nodiscard]] std::string_view take(std::size_t size) {
        if (size > in_.size() - pos_) throw serialization_error("encoded value is truncated");
        const std::string_view bytes = in_.substr(pos_, size);
        pos_ += size;
        return bytes;
    }

    /// Charges `count` elements of `each` bytes before they are allocated.
    void charge(std::size_t count, std::size_t each) { limits_.charge(count, each, allocation_budget(in_.size())); }

    [[nodiscard]] archive_limits& limits() noexcept { return limits_; }

private:
    std::string_view in_;
    std::size_t pos_ = 0;
    archive_limits limits_;
};

// Every value read or written counts one level of nesting while it is processed.
template <class T>
void prologue(portable_reader& ar, const T&) {
    ar.limits().enter();
}
template <class T>
void epilogue(portable_reader& ar, const T&) {
    ar.limits().leave();
}
template <class T>
void prologue(portable_writer& ar, const T&) {
    if (ar.limits() != nullptr) ar.limits()->enter();
}
template <class T>
void epilogue(portable_writer& ar, const T&) {
    if (ar.limits() != nullptr) ar.limits()->leave();
}

// Arithmetic values: fixed width, little-endian. bool is one byte that must be 0 or 1.
template <class T>
    requires std::is_arithmetic_v<T>
void CEREAL_SAVE_FUNCTION_NAME(portable_writer& ar, const T& value) {
    if constexpr (std::is_same_v<T, bool>) {
        const std::uint8_t byte = value ? 1 : 0;
        ar.write_elements(&byte, 1, 1);
    } else {
        ar.write_elements(std::addressof(value), sizeof(T), sizeof(T));
    }
}

template <class T>
    requires std::is_arithmetic_v<T>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, T& value) {
    if constexpr (std::is_same_v<T, bool>) {
        std::uint8_t byte = 0;
        ar.read_elements(&byte, 1, 1);
        if (byte > 1) throw serialization_error("encoded bool is neither 0 nor 1");
        value = byte == 1;
    } else {
        ar.read_elements(std::addressof(value), sizeof(T), sizeof(T));
    }
}

// Names are not part of the binary format.
template <class Archive, class T>
    requires(std::is_same_v<Archive, portable_writer> || std::is_same_v<Archive, portable_reader>)
void CEREAL_SERIALIZE_FUNCTION_NAME(Archive& ar, cereal::NameValuePair<T>& pair) {
    ar(pair.value);
}

// Container sizes are always 64-bit. On reading, a size can never exceed the bytes that remain.
template <class T>
void CEREAL_SAVE_FUNCTION_NAME(portable_writer& ar, const cereal::SizeTag<T>& tag) {
    const auto size = static_cast<std::uint64_t>(tag.size);
    ar(size);
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, cereal::SizeTag<T>& tag) {
    std::uint64_t size = 0;
    ar(size);
    if (size > ar.remaining()) throw serialization_error("encoded length exceeds the remaining bytes");
    tag.size = static_cast<std::remove_reference_t<T>>(size);
}

// Strings of bytes are copied once from the input, without filling them with zeros first (the
// general string loader sizes the string, then reads into it).
template <class CharT, class Traits, class Alloc>
    requires(sizeof(CharT) == 1 && std::is_arithmetic_v<CharT>)
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::basic_string<CharT, Traits, Alloc>& str) {
    std::uint64_t size = 0;
    ar(size);
    if (size > ar.remaining()) throw serialization_error("encoded length exceeds the remaining bytes");
    const std::string_view bytes = ar.take(static_cast<std::size_t>(size));
    str.assign(reinterpret_cast<const CharT*>(bytes.data()), bytes.size());
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(portable_writer& ar, const cereal::BinaryData<T>& data) {
    using element = std::remove_cv_t<std::remove_pointer_t<T>>;
    ar.write_elements(data.data, static_cast<std::size_t>(data.size), sizeof(element));
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, cereal::BinaryData<T>& data) {
    using element = std::remove_cv_t<std::remove_pointer_t<T>>;
    ar.read_elements(data.data, static_cast<std::size_t>(data.size), sizeof(element));
}

}  // namespace cachier::detail

CEREAL_SETUP_ARCHIVE_TRAITS(cachier::detail::portable_reader, cachier::detail::portable_writer)
