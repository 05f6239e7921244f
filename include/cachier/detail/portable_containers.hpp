#pragma once
// Private: how the standard containers are written and read by cachier's archives.
//
// The bytes are cereal's (a 64-bit count, then the elements). What changes is the accounting: each
// container charges the memory a decoder gives its elements *before* allocating it, so that a few
// hostile bytes claiming many elements (or many cheap-to-encode but large elements, such as empty
// optionals of a big type) cannot make the reader allocate more than its budget. The writer charges
// the same amounts, so a value that could not be read back is refused when it is encoded.
// Unordered containers are written in sorted order: equal containers, equal bytes.

#include <algorithm>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/vector.hpp>

#include <cachier/detail/portable_archive.hpp>

namespace cachier::detail {

/// Memory a decoder gives a container: `base` once, `each` per element. The node sizes are those
/// of the usual standard libraries (two or four words per node, one bucket per unordered element).
template <class Container>
struct footprint;

template <class T, class A>
struct footprint<std::vector<T, A>> {
    // Numbers (and bools, one bit each) are checked against the bytes that remain instead.
    static constexpr std::size_t base = 0;
    static constexpr std::size_t each = std::is_arithmetic_v<T> ? 0 : sizeof(T);
};
template <class T, class A>
struct footprint<std::deque<T, A>> {
    static constexpr std::size_t base = 576;  // a deque allocates a block map and a block when made
    static constexpr std::size_t each = sizeof(T);
};

/// The size of a node holding a T after `Links` words (links, colour, cached hash), padding included.
template <class T, std::size_t Links>
struct node {
    void* links[Links];
    T value;
};

template <class T, class A>
struct footprint<std::list<T, A>> {
    static constexpr std::size_t base = 0;
    static constexpr std::size_t each = sizeof(node<T, 2>);
};
template <class C>
struct tree_footprint {
    static constexpr std::size_t base = 0;
    static constexpr std::size_t each = sizeof(node<typename C::value_type, 4>);
};
template <class C>
struct hash_footprint {  // a node with its link and cached hash, and one bucket
    static constexpr std::size_t base = 0;
    static constexpr std::size_t each = sizeof(node<typename C::value_type, 2>) + sizeof(void*);
};
template <class K, class V, class C, class A>
struct footprint<std::map<K, V, C, A>> : tree_footprint<std::map<K, V, C, A>> {};
template <class K, class V, class C, class A>
struct footprint<std::multimap<K, V, C, A>> : tree_footprint<std::multimap<K, V, C, A>> {};
template <class K, class C, class A>
struct footprint<std::set<K, C, A>> : tree_footprint<std::set<K, C, A>> {};
template <class K, class C, class A>
struct footprint<std::multiset<K, C, A>> : tree_footprint<std::multiset<K, C, A>> {};
template <class K, class V, class H, class E, class A>
struct footprint<std::unordered_map<K, V, H, E, A>> : hash_footprint<std::unordered_map<K, V, H, E, A>> {};
template <class K, class V, class H, class E, class A>
struct footprint<std::unordered_multimap<K, V, H, E, A>>
    : hash_footprint<std::unordered_multimap<K, V, H, E, A>> {};
template <class K, class H, class E, class A>
struct footprint<std::unordered_set<K, H, E, A>> : hash_footprint<std::unordered_set<K, H, E, A>> {};
template <class K, class H, class E, class A>
struct footprint<std::unordered_multiset<K, H, E, A>> : hash_footprint<std::unordered_multiset<K, H, E, A>> {};

template <class C>
concept charged_container = requires { footprint<C>::each; };

// Writing: a container charges what its decoding will take (one nesting level, as every value).
template <charged_container C>
void prologue(portable_writer& ar, const C& container) {
    if (ar.limits() == nullptr) return;
    ar.limits()->enter();
    ar.charge(1, footprint<C>::base);
    ar.charge(container.size(), footprint<C>::each);
}

/// Reads a container's element count and charges its memory; throws before anything is allocated.
template <class C>
std::size_t read_count(portable_reader& ar) {
    cereal::size_type count = 0;
    ar(cereal::make_size_tag(count));
    ar.charge(1, footprint<C>::base);
    ar.charge(static_cast<std::size_t>(count), footprint<C>::each);
    return static_cast<std::size_t>(count);
}

template <class T, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::vector<T, A>& vector) {
    const std::size_t count = read_count<std::vector<T, A>>(ar);
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
        if (count > ar.remaining() / sizeof(T)) throw serialization_error("encoded length exceeds the remaining bytes");
        vector.resize(count);
        ar(cereal::binary_data(vector.data(), count * sizeof(T)));
    } else {
        vector.resize(count);
        for (auto&& element : vector) ar(element);
    }
}

template <class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::vector<bool, A>& vector) {
    const std::size_t count = read_count<std::vector<bool, A>>(ar);
    vector.resize(count);
    for (auto&& element : vector) {
        bool value = false;
        ar(value);
        element = value;
    }
}

template <class T, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::deque<T, A>& deque) {
    deque.resize(read_count<std::deque<T, A>>(ar));
    for (auto& element : deque) ar(element);
}

template <class T, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::list<T, A>& list) {
    list.resize(read_count<std::list<T, A>>(ar));
    for (auto& element : list) ar(element);
}

/// Reads an associative container of any kind, inserting its elements in the order written;
/// `insert_one(hint)` reads one element and returns where it went.
template <class Container, class InsertOne>
void load_associative(portable_reader& ar, Container& container, InsertOne&& insert_one) {
    const std::size_t count = read_count<Container>(ar);
    container.clear();
    auto hint = container.begin();
    for (std::size_t i = 0; i < count; ++i) hint = insert_one(hint);
}

/// Reads a map of any kind: key and value pairs.
template <class Map>
void load_map(portable_reader& ar, Map& map) {
    load_associative(ar, map, [&](typename Map::iterator hint) {
        typename Map::key_type key;
        typename Map::mapped_type value;
        ar(cereal::make_map_item(key, value));
        return map.emplace_hint(hint, std::move(key), std::move(value));
    });
}

/// Reads a set of any kind.
template <class Set>
void load_set(portable_reader& ar, Set& set) {
    load_associative(ar, set, [&](typename Set::iterator hint) {
        typename Set::key_type key;
        ar(key);
        return set.emplace_hint(hint, std::move(key));
    });
}

template <class K, class V, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::map<K, V, C, A>& map) {
    load_map(ar, map);
}
template <class K, class V, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::multimap<K, V, C, A>& map) {
    load_map(ar, map);
}
template <class K, class V, class H, class E, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::unordered_map<K, V, H, E, A>& map) {
    load_map(ar, map);
}
template <class K, class V, class H, class E, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::unordered_multimap<K, V, H, E, A>& map) {
    load_map(ar, map);
}
template <class K, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::set<K, C, A>& set) {
    load_set(ar, set);
}
template <class K, class C, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::multiset<K, C, A>& set) {
    load_set(ar, set);
}
template <class K, class H, class E, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::unordered_set<K, H, E, A>& set) {
    load_set(ar, set);
}
template <class K, class H, class E, class A>
void CEREAL_LOAD_FUNCTION_NAME(portable_reader& ar, std::unordered_multiset<K, H, E, A>& set) {
    load_set(ar, set);
}

// Unordered containers iterate in an order that depends on the standard library and on history,
// so they are written as their elements' encodings in sorted order.
template <class Container>
void save_sorted_elements(portable_writer& ar, const Container& container) {
    std::vector<std::string> encoded;
    encoded.reserve(container.size());
    for (const auto& element : container) {
        std::string bytes;
        portable_writer element_writer(bytes, ar.limits());
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
