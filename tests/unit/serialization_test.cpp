// The encoding: round trips of every supported type, portable bytes, canonical unordered
// containers, and safe decoding of corrupt or hostile bytes.

#include <array>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <gtest/gtest.h>

#include <cachier/serialization.hpp>

#include "../support/tree.hpp"

namespace {

struct point {
    std::int32_t x = 0;
    std::int32_t y = 0;
    std::string label;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(x, y, label);
    }
    friend bool operator==(const point&, const point&) = default;
};

enum class color : std::uint8_t { red, green };

std::string hex(const std::string& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

template <class T>
void expect_round_trip(const T& value) {
    const auto decoded = cachier::decode<T>(cachier::encode(value));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_TRUE(*decoded == value);
}

}  // namespace

TEST(Serialization, RoundTripsEverySupportedType) {
    expect_round_trip(true);
    expect_round_trip(std::int8_t{-5});
    expect_round_trip(std::uint64_t{0xffffffffffffffffULL});
    expect_round_trip(-1.25);
    expect_round_trip(3.5F);
    expect_round_trip(std::string("hello\0world", 11));
    expect_round_trip(std::vector<int>{1, 2, 3});
    expect_round_trip(std::vector<bool>{true, false, true});
    expect_round_trip(std::array<double, 3>{1.0, 2.0, 3.0});
    expect_round_trip(std::map<std::string, int>{{"a", 1}, {"b", 2}});
    expect_round_trip(std::set<int>{3, 1, 2});
    expect_round_trip(std::unordered_map<std::string, double>{{"pi", 3.14}, {"e", 2.71}});
    expect_round_trip(std::unordered_set<int>{5, 6, 7});
    expect_round_trip(std::pair<int, std::string>{1, "one"});
    expect_round_trip(std::tuple<int, double, std::string>{1, 2.0, "three"});
    expect_round_trip(std::optional<int>{});
    expect_round_trip(std::optional<int>{4});
    expect_round_trip(std::variant<int, std::string>{std::string("v")});
    expect_round_trip(std::chrono::milliseconds(1500));
    expect_round_trip(std::deque<int>{1, 2});
    expect_round_trip(std::list<std::string>{"x", "y"});
    expect_round_trip(color::green);
    expect_round_trip(point{1, -2, "p"});
    expect_round_trip(std::map<std::string, std::vector<std::optional<std::tuple<int, point>>>>{
        {"k", {std::nullopt, std::make_tuple(1, point{3, 4, "q"})}}});
}

TEST(Serialization, BytesAreFixedLittleEndianWith64BitLengths) {
    // The same on every machine and compiler: these bytes are part of the stored format.
    EXPECT_EQ(hex(cachier::encode(std::int32_t{1}, std::string("ab"))), "01000000" "0200000000000000" "6162");
    EXPECT_EQ(hex(cachier::encode(true, std::uint16_t{0x0102})), "01" "0201");
    EXPECT_EQ(hex(cachier::encode(std::vector<std::int16_t>{-1})), "0100000000000000" "ffff");
    EXPECT_EQ(hex(cachier::encode(1.0)), "000000000000f03f");
}

TEST(Serialization, EqualUnorderedContainersEncodeEqually) {
    std::unordered_map<std::string, int> a;
    std::unordered_map<std::string, int> b(1000);
    for (int i = 0; i < 100; ++i) a.emplace("key" + std::to_string(i), i);
    for (int i = 99; i >= 0; --i) b.emplace("key" + std::to_string(i), i);
    EXPECT_EQ(cachier::encode(a), cachier::encode(b));
    std::unordered_set<int> s1{1, 2, 3, 4, 5};
    std::unordered_set<int> s2(64);
    for (int i = 5; i >= 1; --i) s2.insert(i);
    EXPECT_EQ(cachier::encode(s1), cachier::encode(s2));
}

TEST(Serialization, TruncatedOrTrailingBytesAreRejected) {
    const std::string bytes = cachier::encode(std::string("hello"), 42);
    for (std::size_t cut = 0; cut < bytes.size(); ++cut)
        EXPECT_FALSE((cachier::decode<std::tuple<std::string, int>>(bytes.substr(0, cut)).has_value())) << cut;
    EXPECT_FALSE((cachier::decode<std::tuple<std::string, int>>(bytes + "x").has_value()));
}

TEST(Serialization, ByteStringsRoundTripAndEveryTruncationIsRefused) {
    const std::string text = std::string("a\0b\xff", 4) + std::string(5000, 'x');
    const std::basic_string<unsigned char> bytes(text.begin(), text.end());
    const std::u8string utf8(text.begin(), text.end());
    EXPECT_EQ(cachier::decode<std::string>(cachier::encode(text)), text);
    EXPECT_EQ(cachier::decode<std::basic_string<unsigned char>>(cachier::encode(bytes)), bytes);
    EXPECT_TRUE(cachier::decode<std::u8string>(cachier::encode(utf8)) == utf8);  // (gtest prints no u8string)
    EXPECT_EQ(cachier::decode<std::string>(cachier::encode(std::string())), std::string());
    const std::string encoded = cachier::encode(std::string("hello"));
    for (std::size_t n = 0; n < encoded.size(); ++n)
        EXPECT_FALSE(cachier::decode<std::string>(encoded.substr(0, n)).has_value()) << n;
    EXPECT_FALSE(cachier::decode<std::string>(encoded + "!").has_value());  // a byte left over
    // Strings nested in containers go through the same loader.
    const std::vector<std::string> many{"", "one", std::string(300, 'z')};
    EXPECT_EQ(cachier::decode<std::vector<std::string>>(cachier::encode(many)), many);
}

TEST(Serialization, HostileLengthsNeitherCrashNorAllocate) {
    // A string claiming 2^62 bytes: a naive decoder would try to allocate them.
    std::string huge = cachier::encode(std::uint64_t{1} << 62);
    EXPECT_FALSE(cachier::decode<std::string>(huge).has_value());
    EXPECT_FALSE(cachier::decode<std::vector<std::vector<int>>>(huge + "abcd").has_value());
    EXPECT_FALSE((cachier::decode<std::map<int, std::string>>(huge).has_value()));
    // Invalid bool and variant index.
    EXPECT_FALSE(cachier::decode<bool>(std::string(1, '\x02')).has_value());
    EXPECT_FALSE((cachier::decode<std::variant<int, double>>(cachier::encode(std::int32_t{7}) + "abcd").has_value()));
}

TEST(Serialization, RandomBytesNeverCrash) {
    std::mt19937_64 rng(12345);
    for (int round = 0; round < 3000; ++round) {
        std::string bytes(rng() % 64, '\0');
        for (auto& c : bytes) c = static_cast<char>(rng());
        (void)cachier::decode<std::map<std::string, std::vector<std::optional<std::tuple<int, double>>>>>(bytes);
        (void)cachier::decode<std::variant<std::string, std::vector<bool>, std::set<std::int64_t>>>(bytes);
        (void)cachier::decode<point>(bytes);
    }
    SUCCEED();
}

namespace {

using cachier::test::tree;

tree chain(int depth) {
    tree root;
    tree* at = &root;
    for (int i = 0; i < depth; ++i) {
        at->children.emplace_back();
        at = &at->children.back();
        at->value = i;
    }
    return root;
}

/// A hostile encoding of a tree nested `depth` levels: each level claims one child.
std::string nested_tree_bytes(std::size_t depth) {
    std::string bytes;
    for (std::size_t i = 0; i < depth; ++i) bytes += cachier::encode(std::int32_t{0}, std::uint64_t{1});
    bytes += cachier::encode(std::int32_t{0}, std::uint64_t{0});
    return bytes;
}

}  // namespace

TEST(Serialization, NestingIsLimitedOnBothSides) {
    // A tree level is two nesting levels (the node and its vector of children).
    const tree shallow = chain(100);
    expect_round_trip(shallow);
    EXPECT_THROW((void)cachier::encode(chain(200)), cachier::serialization_error);
    // A hostile input nesting a million levels is refused, not a stack overflow.
    EXPECT_FALSE(cachier::decode<tree>(nested_tree_bytes(1'000'000)).has_value());
    EXPECT_TRUE(cachier::decode<tree>(nested_tree_bytes(100)).has_value());
    // Keys are never decoded, so deep arguments still make keys.
    EXPECT_FALSE(cachier::detail::encode_key(chain(200)).empty());
}

TEST(Serialization, ClaimedCountsCannotMakeTheDecoderAllocateMoreThanItsBudget) {
    // Each element of these costs one byte to encode (an empty optional) but 4 KiB to hold.
    using sparse = std::vector<std::optional<std::array<char, 4096>>>;
    std::string bytes = cachier::encode(std::uint64_t{20'000});
    bytes.append(20'000, '\1');  // 20 000 empty optionals: 20 KB claiming 80 MB
    EXPECT_FALSE(cachier::decode<sparse>(bytes).has_value());
    // The same holds for every node-based container.
    using sparse_list = std::list<std::optional<std::array<char, 4096>>>;
    EXPECT_FALSE(cachier::decode<sparse_list>(bytes).has_value());
    using sparse_map = std::multimap<std::tuple<>, std::optional<std::array<char, 4096>>>;
    EXPECT_FALSE(cachier::decode<sparse_map>(bytes).has_value());
    // A value that could not be read back is refused when encoded, so it is never stored.
    EXPECT_THROW((void)cachier::encode(sparse(20'000)), cachier::serialization_error);
    // Moderate values of the same shape still round-trip (within 64 x size + 64 KiB).
    expect_round_trip(sparse(10));
    // Numbers: a count is checked against the bytes that remain before anything is allocated.
    EXPECT_FALSE(cachier::decode<std::vector<std::int64_t>>(cachier::encode(std::uint64_t{1000}) + std::string(1000, 'x')).has_value());
}
