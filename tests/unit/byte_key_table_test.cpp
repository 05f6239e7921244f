// The tier's hash table: random inserts, replacements and removals agree with std::unordered_map,
// also when every hash lands in a few slots (long probe runs wrapping around the array's end).

#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>

#include <gtest/gtest.h>

#include "byte_key_table.hpp"

namespace {

using cachier::detail::byte_key_table;

/// `crowd`: every hash is one of the last 8 values, so that probe runs wrap around the array's end.
void agree_with_a_reference_map(bool crowd) {
    byte_key_table<int> table;
    std::unordered_map<std::string, int> reference;
    std::mt19937_64 random(crowd ? 1 : 2);
    const auto hash_of = [&](const std::string& key) -> std::uint64_t {
        const std::uint64_t hash = std::hash<std::string>{}(key);
        return crowd ? ~std::uint64_t{0} - (hash & 7) : hash;
    };
    for (int step = 0; step < 20'000; ++step) {
        const std::string key = std::to_string(1000 + random() % 300);
        switch (random() % 4) {
        case 0:
        case 1: {
            const int replaced = table.insert_or_assign(key, hash_of(key), step + 1);
            const auto found = reference.find(key);
            EXPECT_EQ(replaced, found == reference.end() ? 0 : found->second);
            reference[key] = step + 1;
            break;
        }
        case 2:
            EXPECT_EQ(table.erase(key, hash_of(key)), reference.erase(key) == 1) << key;
            break;
        default:
            if (step % 500 == 0) {
                table.erase_if([](int value) { return value % 3 == 0; });
                std::erase_if(reference, [](const auto& item) { return item.second % 3 == 0; });
            }
        }
        ASSERT_EQ(table.size(), reference.size());
    }
    for (int k = 0; k < 300; ++k) {
        const std::string key = std::to_string(1000 + k);
        const int* found = table.find(key, hash_of(key));
        const auto expected = reference.find(key);
        ASSERT_EQ(found != nullptr, expected != reference.end()) << key;
        if (found != nullptr) {
            EXPECT_EQ(*found, expected->second);
        }
    }
}

TEST(ByteKeyTable, AgreesWithAReferenceMap) { agree_with_a_reference_map(false); }

TEST(ByteKeyTable, AgreesWithAReferenceMapWhenHashesCollide) { agree_with_a_reference_map(true); }

TEST(ByteKeyTable, EraseAnyMakesRoomUntilEmpty) {
    byte_key_table<int> table;
    for (int k = 0; k < 100; ++k) table.insert_or_assign(std::to_string(k), static_cast<std::uint64_t>(k) * 0x9E37, k + 1);
    for (std::size_t left = 100; left > 0; --left) {
        ASSERT_EQ(table.size(), left);
        table.erase_any();
    }
    EXPECT_EQ(table.size(), 0U);
    table.erase_any();  // nothing to remove
    EXPECT_EQ(table.find("1", 0x9E37), nullptr);
}

}  // namespace
