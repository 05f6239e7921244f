#pragma once
/// @file serialization.hpp
/// @brief How arguments and values become bytes.
///
/// Every type cereal can serialize works: arithmetic types, std::string, std::vector, std::array,
/// std::map, std::set, std::unordered_map, std::unordered_set, std::pair, std::tuple,
/// std::optional, std::variant, std::chrono durations, and nested combinations. A type of your own
/// works once it has a member
/// @code
///   template <class Archive> void serialize(Archive& ar) { ar(field_a, field_b); }
/// @endcode
/// (or cereal's split save/load members, or non-member functions found by ADL).
/// The bytes are the same on every machine and compiler for types of the same size; prefer the
/// fixed-width integers (std::int64_t) over `long` for arguments shared between platforms.

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <cereal/types/array.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <cachier/detail/portable_archive.hpp>
#include <cachier/detail/portable_containers.hpp>
#include <cachier/errors.hpp>

namespace cachier {

/// True when T can be encoded and decoded by cachier.
template <class T>
concept serializable = cereal::traits::is_output_serializable<T, detail::portable_writer>::value &&
                       cereal::traits::is_input_serializable<T, detail::portable_reader>::value;

namespace detail {

/// Appends the encoding of `values` to `bytes`; with `limits`, refuses values that decode() would
/// refuse (too deep, or taking too much memory for their size).
template <class... T>
[[gnu::always_inline]] inline void encode_into(std::string& bytes, archive_limits* limits, const T&... values) {
    const std::size_t start = bytes.size();
    try {
        portable_writer writer(bytes, limits);
        writer(values...);
    } catch (const serialization_error&) {
        throw;
    } catch (const std::exception& e) {
        throw serialization_error(std::string("cannot encode value: ") + e.what());
    }
    if (limits != nullptr && limits->charged() > allocation_budget(bytes.size() - start)) throw_too_large();
}

/// The encoding of a call's arguments, for its key: never decoded, so never limited.
template <class... T>
[[nodiscard]] std::string encode_key(const T&... values) {
    std::string bytes;
    encode_into(bytes, nullptr, values...);
    return bytes;
}

}  // namespace detail

/// Encodes values into portable bytes that decode() reads back. Throws serialization_error when a
/// value cannot be encoded, or could not be decoded: nested deeper than 256 levels, or holding
/// containers whose memory would exceed 64 times the encoding's size plus 64 KiB (long runs of
/// empty std::optional of a large type, say).
template <class... T>
[[nodiscard]] std::string encode(const T&... values) {
    std::string bytes;
    detail::archive_limits limits;
    detail::encode_into(bytes, &limits, values...);
    return bytes;
}

/// Decodes bytes made by encode<T>; empty when they are malformed, truncated or have bytes left
/// over. Trusts nothing: never reads outside `bytes`, recurses at most 256 levels, and the
/// standard containers it fills never take more than 64 times the size of `bytes` plus 64 KiB
/// (strings and arrays of numbers never more than its size), whatever the lengths inside claim.
template <class T>
    requires std::is_default_constructible_v<T>
[[nodiscard]] std::optional<T> decode(std::string_view bytes) noexcept {
    try {
        std::optional<T> value(std::in_place);
        detail::portable_reader reader(bytes);
        reader(*value);
        if (reader.remaining() != 0) return std::nullopt;
        return value;
    } catch (...) {
        return std::nullopt;
    }
}

}  // namespace cachier
