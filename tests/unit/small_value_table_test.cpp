// The lock-free table of small tier values: it agrees with a reference map, also when hashes
// collide and probe runs wrap around, and readers racing a writer never see a torn or foreign entry.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "small_value_table.hpp"

namespace {

using cachier::detail::small_entry;
using cachier::detail::small_value_table;

small_entry entry_of(std::int64_t value) {
    small_entry e;
    std::memcpy(e.bytes.data(), &value, sizeof value);
    e.stored_at = value;
    e.kept_at = -value;
    e.entry_hash = static_cast<std::uint64_t>(value) * 3;
    return e;
}

std::int64_t value_of(const small_entry& e) {
    std::int64_t value = 0;
    std::memcpy(&value, e.bytes.data(), sizeof value);
    return value;
}

// Keys of several lengths up to the longest the table holds, some padded with zero bytes.
std::string key_of(std::uint64_t n) {
    std::string key = std::to_string(n);
    key.resize(std::max<std::size_t>(key.size(), 1 + n % small_value_table::max_key_size), n % 2 == 0 ? '\0' : 'x');
    return key;
}

void agree_with_a_reference_map(bool crowd) {
    small_value_table table;
    std::unordered_map<std::string, std::int64_t> reference;
    std::mt19937_64 random(crowd ? 3 : 4);
    const auto hash_of = [&](const std::string& key) -> std::uint64_t {
        const std::uint64_t hash = std::hash<std::string>{}(key);
        return crowd ? ~std::uint64_t{0} - (hash & 7) : hash;
    };
    for (std::int64_t step = 1; step <= 20'000; ++step) {
        const std::string key = key_of(random() % 300);
        switch (random() % 4) {
        case 0:
        case 1:
            table.insert_or_assign(key, hash_of(key), entry_of(step));
            reference[key] = step;
            break;
        case 2:
            EXPECT_EQ(table.erase(key, hash_of(key)), reference.erase(key) == 1);
            break;
        default:
            if (step % 500 == 0) {
                table.erase_if([](const small_entry& e) { return value_of(e) % 3 == 0; });
                std::erase_if(reference, [](const auto& item) { return item.second % 3 == 0; });
            }
        }
        ASSERT_EQ(table.size(), reference.size());
    }
    for (std::uint64_t n = 0; n < 300; ++n) {
        const std::string key = key_of(n);
        small_entry found;
        const auto expected = reference.find(key);
        ASSERT_EQ(table.find(key, hash_of(key), found), expected != reference.end()) << n;
        if (expected != reference.end()) {
            EXPECT_EQ(value_of(found), expected->second);
            EXPECT_EQ(found.kept_at, -expected->second);
        }
    }
}

TEST(SmallValueTable, AgreesWithAReferenceMap) { agree_with_a_reference_map(false); }

TEST(SmallValueTable, AgreesWithAReferenceMapWhenHashesCollide) { agree_with_a_reference_map(true); }

TEST(SmallValueTable, KeysLongerThanItHoldsAreNeitherStoredNorFound) {
    small_value_table table;
    const std::string long_key(small_value_table::max_key_size + 1, 'k');
    table.insert_or_assign(long_key, 1, entry_of(5));
    small_entry found;
    EXPECT_FALSE(table.find(long_key, 1, found));
    EXPECT_EQ(table.size(), 0U);
}

// Values name their key (key * 1,000,000 + version): a reader finding a value of another key, or
// an entry whose fields disagree, read a torn slot.
TEST(SmallValueTable, ReadersRacingAWriterSeeOnlyWholeEntriesOfTheirKey) {
    small_value_table table;
    constexpr std::uint64_t keys = 512;
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> hits{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; ++r) {
        readers.emplace_back([&, r] {
            std::uint64_t n = static_cast<std::uint64_t>(r);
            std::uint64_t seen = 0;
            while (!done.load(std::memory_order_relaxed)) {
                n = (n + 7) % keys;
                const std::string key = key_of(n);
                small_entry found;
                if (!table.find(key, n & 15, found)) continue;  // few hashes: long runs, many shifts
                ++seen;
                const std::int64_t value = value_of(found);
                ASSERT_EQ(static_cast<std::uint64_t>(value / 1'000'000), n);
                ASSERT_EQ(found.stored_at, value);
                ASSERT_EQ(found.kept_at, -value);
                ASSERT_EQ(found.entry_hash, static_cast<std::uint64_t>(value) * 3);
            }
            hits += seen;
        });
    }
    std::mt19937_64 random(5);
    for (std::int64_t version = 1; version < 60'000; ++version) {
        const std::uint64_t n = random() % keys;
        const std::string key = key_of(n);
        if (random() % 3 == 0) {
            table.erase(key, n & 15);
        } else {
            table.insert_or_assign(key, n & 15, entry_of(static_cast<std::int64_t>(n) * 1'000'000 + version % 1'000'000));
        }
        if (version % 20'000 == 0) table.clear();
    }
    done = true;
    for (auto& reader : readers) reader.join();
    EXPECT_GT(hits.load(), 0U);
}

}  // namespace
