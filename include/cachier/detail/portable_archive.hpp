#pragma once
// Private: the archives behind cachier's encoding. Users never name these types directly.
//
// The format is cereal's archive model written in fixed little-endian byte order with 64-bit sizes,
// so the same value gives the same bytes on every machine and compiler. The reader checks every
// length against the bytes that remain, so hostile input can neither read out of bounds nor make it
// allocate more than a small multiple of the input size.

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <cereal/cereal.hpp>

#include <cachier/errors.hpp>

namespace cachier::detail {

static_assert(std::numeric_limits<float>::is_iec559 && std::numeric_limits<double>::is_iec559,
              "cachier needs IEEE 754 floating point");

/// Appends values to a byte string.
class portable_writer : public cereal::OutputArchive<portable_writer, cereal::AllowEmptyClassElision> {
public:
    explicit portable_writer(std::string& out)
        : cereal::OutputArchive<portable_writer, cereal::AllowEmptyClassElision>(this), out_(out) {}

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

private:
    std::string& out_;
};

/// Reads values back from a byte string; throws serialization_error on anything malformed.
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

private:
    std::string_view in_;
    std::size_t pos_ = 0;
};

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

// Unordered containers iterate in an order that depends on the standard library and on history,
// so they are written as their elements' encodings in sorted order: equal containers, equal bytes.
template <class Container>
void save_sorted_elements(portable_writer& ar, const Container& container) {
    std::vector<std::string> encoded;
    encoded.reserve(container.size());
    for (const auto& element : container) {
        std::string bytes;
        portable_writer element_writer(bytes);
        element_writer(element);
        encoded.push_back(std::move(bytes));
    }
    std::sort(encoded.begin(), encoded.end());
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(encoded.size())));
    for (const auto& bytes : encoded) ar.write_elements(bytes.data(), bytes.size(), 1);
}

template <class K, class V, class H, class E, class A>
void CEREAL_SAVE_FUNCTION_NAME(portable_writer& ar, const std::unordered_map<K, V, H, E, A>& map) {
    save_sorted_elements(ar, map);
}
template <class K, class V, class H, class E, class A>
void CEREAL_SAVE_FUNCTION_NAME(portable_writer& ar, const std::unordered_multimap<K, V, H, E, A>& map) {
    save_sorted_elements(ar, map);
}
template <class K, class H, class E, class A>
void CEREAL_SAVE_FUNCTION_NAME(portable_writer& ar, const std::unordered_set<K, H, E, A>& set) {
    save_sorted_elements(ar, set);
}
template <class K, class H, class E, class A>
void CEREAL_SAVE_FUNCTION_NAME(portable_writer& ar, const std::unordered_multiset<K, H, E, A>& set) {
    save_sorted_elements(ar, set);
}

}  // namespace cachier::detail

CEREAL_SETUP_ARCHIVE_TRAITS(cachier::detail::portable_reader, cachier::detail::portable_writer)
