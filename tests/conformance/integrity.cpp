// Integrity against damaged and hostile stored entries, and function names of any bytes, on every
// backend: whatever a store holds, a call returns its function's own value, or computes it.

#include <array>
#include <optional>
#include <vector>

#include "../../src/envelope.hpp"
#include "../support/tree.hpp"
#include "stored_entries.hpp"
#include "suite.hpp"

namespace cachier::test {

TEST_P(Conformance, DamagedTruncatedMisplacedAndForeignEntriesAreRecomputedAndReported) {
    if (!backend_->capabilities().stores_outside_process) GTEST_SKIP() << "values never leave the process";
    auto opts = base_options();
    opts.enable_metrics = true;
    auto calls = std::make_shared<int>(0);
    auto times_ten = [calls](std::int64_t x) {
        ++*calls;
        return x * 10;
    };
    auto f = cachier::cachier(fn_name(), times_ten, opts);
    auto g = cachier::cachier(fn_name("_other"), [](std::int64_t x) { return x * 1000; }, opts);
    const std::string key1 = key_added_by(*backend_, f.name(), [&] { EXPECT_EQ(f(1), 10); });
    const std::string key2 = key_added_by(*backend_, f.name(), [&] { EXPECT_EQ(f(2), 20); });
    const std::string g_key1 = key_added_by(*backend_, g.name(), [&] { EXPECT_EQ(g(1), 1000); });
    const std::string good = stored_bytes(*backend_, f.name(), key1);
    ASSERT_FALSE(good.empty());

    std::string flipped = good;
    flipped.back() = static_cast<char>(flipped.back() ^ 0x01);
    std::string flipped_head = good;
    flipped_head[5] = static_cast<char>(flipped_head[5] ^ 0x40);
    const struct {
        const char* what;
        std::string bytes;
    } cases[] = {
        {"a bit flipped in the value", flipped},
        {"a bit flipped in the envelope", flipped_head},
        {"truncated", good.substr(0, good.size() - 3)},
        {"cut inside the envelope", good.substr(0, 7)},
        {"empty", ""},
        {"another key's entry", stored_bytes(*backend_, f.name(), key2)},
        {"another function's entry for the same arguments", stored_bytes(*backend_, g.name(), g_key1)},
        {"an earlier release's value (no envelope)", cachier::encode(std::int64_t{99})},
    };
    std::uint64_t refused = f.metrics().corrupt_entries;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        put(*backend_, f.name(), key1, c.bytes);
        const int before = *calls;
        EXPECT_EQ(f(1), 10);                       // never another value
        EXPECT_EQ(*calls, before + 1);             // recomputed...
        EXPECT_EQ(f.metrics().corrupt_entries, ++refused);  // ...and reported
        EXPECT_EQ(f(1), 10);                       // and stored again: a hit
        EXPECT_EQ(*calls, before + 1);
    }
    EXPECT_EQ(g(1), 1000);
}

// Strings are read straight into the result's own buffer where the backend can (the file
// backend): their entries are checked as strictly as any other.
TEST_P(Conformance, DamagedAndLyingStringEntriesAreRecomputedAndReported) {
    if (!backend_->capabilities().stores_outside_process) GTEST_SKIP() << "values never leave the process";
    auto opts = base_options();
    opts.enable_metrics = true;
    const auto text = [](std::int64_t size) {
        return std::string(static_cast<std::size_t>(size), static_cast<char>('a' + size % 26));
    };
    auto calls = std::make_shared<int>(0);
    auto f = cachier::cachier(fn_name(), [calls, text](std::int64_t size) {
        ++*calls;
        return text(size);
    }, opts);
    EXPECT_EQ(f(0), "");  // an empty string: nothing after its length
    EXPECT_EQ(f(0), "");
    EXPECT_EQ(*calls, 1);
    const std::string key = key_added_by(*backend_, f.name(), [&] { EXPECT_EQ(f(50'000), text(50'000)); });
    const std::string other_key = key_added_by(*backend_, f.name(), [&] { EXPECT_EQ(f(49'999), text(49'999)); });
    *calls = 0;
    const std::string good = stored_bytes(*backend_, f.name(), key);
    ASSERT_FALSE(good.empty());
    const auto resealed = [&](std::string value) {
        detail::envelope::seal(value, detail::envelope::identity(f.name(), key));
        return value;
    };
    std::string flipped = good;
    flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 0x01);
    std::string longer_claim = good;  // the length says one byte more than follows (envelope intact)
    longer_claim[detail::envelope::size] = static_cast<char>(longer_claim[detail::envelope::size] + 1);
    std::string shorter_claim = good;
    shorter_claim[detail::envelope::size] = static_cast<char>(shorter_claim[detail::envelope::size] - 1);
    const struct {
        const char* what;
        std::string bytes;
    } cases[] = {
        {"a bit flipped in the middle", flipped},
        {"truncated", good.substr(0, good.size() - 3)},
        {"cut inside the length", good.substr(0, detail::envelope::size + 4)},
        {"another key's entry", stored_bytes(*backend_, f.name(), other_key)},
        {"a length claiming more bytes than follow", resealed(longer_claim)},
        {"a length claiming fewer bytes than follow", resealed(shorter_claim)},
    };
    std::uint64_t refused = f.metrics().corrupt_entries;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        put(*backend_, f.name(), key, c.bytes);
        const int before = *calls;
        EXPECT_EQ(f(50'000), text(50'000));
        EXPECT_EQ(*calls, before + 1);
        EXPECT_EQ(f.metrics().corrupt_entries, ++refused);
        EXPECT_EQ(f(50'000), text(50'000));
        EXPECT_EQ(*calls, before + 1);
    }
}

TEST_P(Conformance, HostileValuesInIntactEnvelopesAreRefusedWithoutCrashing) {
    if (!backend_->capabilities().stores_outside_process) GTEST_SKIP() << "values never leave the process";
    auto opts = base_options();
    opts.enable_metrics = true;
    auto deep = cachier::cachier(fn_name("_deep"), [](std::int32_t x) { return tree{x, {}}; }, opts);
    using sparse = std::vector<std::optional<std::array<char, 4096>>>;
    auto wide = cachier::cachier(fn_name("_wide"), [](std::int32_t x) { return sparse(static_cast<std::size_t>(x)); }, opts);

    // Bytes that a writer with the right key could store (the envelope is a checksum, not a
    // signature): a tree nested a million levels, and a million empty optionals of 4 KiB each.
    std::string nested;
    for (int i = 0; i < 1'000'000; ++i) nested += cachier::encode(std::int32_t{0}, std::uint64_t{1});
    nested += cachier::encode(std::int32_t{0}, std::uint64_t{0});
    std::string many = cachier::encode(std::uint64_t{1'000'000}) + std::string(1'000'000, '\1');

    const auto plant = [&](const std::string& function, const std::string& key, const std::string& value) {
        std::string stored(detail::envelope::size, '\0');
        stored += value;
        detail::envelope::seal(stored, detail::envelope::identity(function, key));
        put(*backend_, function, key, stored);
    };
    const std::string deep_key = key_added_by(*backend_, deep.name(), [&] { EXPECT_EQ(deep(7).value, 7); });
    plant(deep.name(), deep_key, nested);
    EXPECT_EQ(deep(7).value, 7);
    EXPECT_TRUE(deep(7).children.empty());
    EXPECT_EQ(deep.metrics().corrupt_entries, 1U);

    const std::string wide_key = key_added_by(*backend_, wide.name(), [&] { EXPECT_EQ(wide(3).size(), 3U); });
    plant(wide.name(), wide_key, many);
    EXPECT_EQ(wide(3).size(), 3U);
    EXPECT_EQ(wide.metrics().corrupt_entries, 1U);
}

TEST_P(Conformance, FunctionNamesAreArbitraryBytes) {
    const std::string base = fn_name();
    const std::vector<std::string> names = {
        base,
        base + std::string("\0", 1),
        base + std::string("\0x", 2),
        base + "\xff\xfe\x80 not UTF-8",
        base + "%",
        base + "_",
        base + "*",
        base + "?[a]",
        base + ":" + std::string(64, 'a'),
        base + "/../x",
        base + std::string(2000, 'n'),
    };
    auto calls = std::make_shared<int>(0);
    std::vector<cached_function<std::function<std::int64_t(std::int64_t)>>> functions;
    for (std::size_t i = 0; i < names.size(); ++i) {
        functions.push_back(cachier::cachier(
            names[i], std::function<std::int64_t(std::int64_t)>([calls, i](std::int64_t x) {
                ++*calls;
                return x * 100 + static_cast<std::int64_t>(i);
            }),
            base_options()));
    }
    for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(functions[i](5), 500 + static_cast<std::int64_t>(i)) << i;
    EXPECT_EQ(*calls, static_cast<int>(names.size()));
    for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(functions[i](5), 500 + static_cast<std::int64_t>(i)) << i;
    EXPECT_EQ(*calls, static_cast<int>(names.size())) << "every name has its own entries";

    std::vector<std::string> listed;
    backend_->list_functions([&](const function_info& info) {
        listed.push_back(info.name);
        return true;
    });
    for (const auto& name : names)
        EXPECT_NE(std::find(listed.begin(), listed.end(), name), listed.end()) << "listed as stored: " << name.size();

    functions[0].clear_cache();  // the name that all others start with
    EXPECT_EQ(functions[0](5), 500);
    EXPECT_EQ(*calls, static_cast<int>(names.size()) + 1);
    for (std::size_t i = 1; i < names.size(); ++i) EXPECT_EQ(functions[i](5), 500 + static_cast<std::int64_t>(i)) << i;
    EXPECT_EQ(*calls, static_cast<int>(names.size()) + 1) << "clearing one name touches no other";
}

}  // namespace cachier::test
