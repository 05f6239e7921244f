// Compression of stored values, on every backend whose values leave the process: compressed
// entries read back whatever the reader's own setting, entry_size_limit counts the bytes stored,
// and damaged or hostile compressed entries are refused and recomputed, never decoded wrongly and
// never decompressed past read_size_limit.

#include <string>

#include "../../src/envelope.hpp"
#include "stored_entries.hpp"
#include "suite.hpp"

namespace cachier::test {
namespace {

/// `size` bytes of text that compresses well.
std::string compressible(std::int64_t size) {
    std::string text;
    for (int line = 0; text.size() < static_cast<std::size_t>(size); ++line)
        text += "line " + std::to_string(line % 97) + " of a value that compresses well\n";
    text.resize(static_cast<std::size_t>(size));
    return text;
}

/// `size` bytes that no compressor shrinks.
std::string incompressible(std::int64_t size) {
    std::string bytes(static_cast<std::size_t>(size), '\0');
    std::uint64_t state = 0x9E3779B97F4A7C15ULL;
    for (auto& b : bytes) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        b = static_cast<char>(state);
    }
    return bytes;
}

constexpr std::int64_t large = 200'000;

/// compressible(size), counting its calls.
struct counted_text {
    std::shared_ptr<int> calls = std::make_shared<int>(0);
    std::string operator()(std::int64_t size) const {
        ++*calls;
        return compressible(size);
    }
};

}  // namespace

TEST_P(Conformance, CompressedValuesReadBackWhateverTheReadersSetting) {
    if (!backend_->capabilities().stores_outside_process) GTEST_SKIP() << "values never leave the process";
    const counted_text make;
    const auto& calls = make.calls;
    auto compressing = base_options();
    compressing.compression = compression::zstd(3);
    auto f = cachier::cachier(fn_name(), make, compressing);
    const std::string key = key_added_by(*backend_, f.name(), [&] { EXPECT_EQ(f(large), compressible(large)); });
    EXPECT_LT(stored_bytes(*backend_, f.name(), key).size(), static_cast<std::size_t>(large / 10));
    auto plain_reader = cachier::cachier(fn_name(), make, base_options());
    EXPECT_EQ(plain_reader(large), compressible(large));
    EXPECT_EQ(*calls, 1) << "a reader without compression reads the compressed entry";

    auto g = cachier::cachier(fn_name("_plain"), make, base_options());
    const std::string plain_key = key_added_by(*backend_, g.name(), [&] { EXPECT_EQ(g(large), compressible(large)); });
    EXPECT_GT(stored_bytes(*backend_, g.name(), plain_key).size(), static_cast<std::size_t>(large));
    auto compressing_reader = cachier::cachier(fn_name("_plain"), make, compressing);
    EXPECT_EQ(compressing_reader(large), compressible(large));
    EXPECT_EQ(*calls, 2) << "a reader with compression reads the plain entry";
}

TEST_P(Conformance, SmallAndIncompressibleValuesAreStoredAsTheyAre) {
    if (!backend_->capabilities().stores_outside_process) GTEST_SKIP() << "values never leave the process";
    auto opts = base_options();
    opts.compression = compression::zstd(3, "64KB");
    auto plain_size = [](const std::string& value) { return encode(value).size() + detail::envelope::size; };
    auto text = cachier::cachier(fn_name("_text"), compressible, opts);
    const std::string small_key = key_added_by(*backend_, text.name(), [&] { EXPECT_EQ(text(1000), compressible(1000)); });
    EXPECT_EQ(stored_bytes(*backend_, text.name(), small_key).size(), plain_size(compressible(1000)))
        << "below min_size: stored as encoded";
    auto noise = cachier::cachier(fn_name("_noise"), incompressible, opts);
    const std::string noise_key = key_added_by(*backend_, noise.name(), [&] { EXPECT_EQ(noise(large), incompressible(large)); });
    EXPECT_EQ(stored_bytes(*backend_, noise.name(), noise_key).size(), plain_size(incompressible(large)))
        << "a value that does not shrink is stored as encoded";
    EXPECT_EQ(noise(large), incompressible(large));
}

TEST_P(Conformance, EntrySizeLimitCountsTheBytesStored) {
    if (!backend_->capabilities().stores_outside_process) GTEST_SKIP() << "values never leave the process";
    const counted_text make;
    const auto& calls = make.calls;
    auto opts = base_options();
    opts.enable_metrics = true;
    opts.entry_size_limit = "50KB";
    auto plain = cachier::cachier(fn_name("_plain"), make, opts);
    EXPECT_EQ(plain(large), compressible(large));
    EXPECT_EQ(plain(large), compressible(large));
    EXPECT_EQ(*calls, 2) << "over the limit uncompressed: never stored";
    EXPECT_EQ(plain.metrics().size_limit_rejections, 2U);
    opts.compression = compression::zstd(3);
    auto compressed = cachier::cachier(fn_name("_compressed"), make, opts);
    EXPECT_EQ(compressed(large), compressible(large));
    EXPECT_EQ(compressed(large), compressible(large));
    EXPECT_EQ(*calls, 3) << "compressed, far under the limit: stored";
    EXPECT_EQ(compressed.metrics().size_limit_rejections, 0U);
}

TEST_P(Conformance, HostileCompressedEntriesAreRefusedAndRecomputed) {
    if (!backend_->capabilities().stores_outside_process) GTEST_SKIP() << "values never leave the process";
    const counted_text make;
    const auto& calls = make.calls;
    auto opts = base_options();
    opts.enable_metrics = true;
    opts.compression = compression::zstd(3);
    auto f = cachier::cachier(fn_name(), make, opts);
    const std::string key = key_added_by(*backend_, f.name(), [&] { EXPECT_EQ(f(large), compressible(large)); });
    const std::string good = stored_bytes(*backend_, f.name(), key);
    const std::string frame = good.substr(detail::envelope::size);
    const auto sealed = [&](const std::string& payload) {
        std::string stored(detail::envelope::size, '\0');
        stored += payload;
        detail::envelope::seal(stored, detail::envelope::identity(f.name(), key), detail::envelope::coding::zstd);
        return stored;
    };
    // A zstd frame header (magic, single segment, 8-byte content size) claiming 4 GiB, and nothing else.
    std::string huge_claim("\x28\xB5\x2F\xFD\xE0", 5);
    for (int i = 0; i < 8; ++i) huge_claim += static_cast<char>(i == 4 ? 1 : 0);
    const struct {
        const char* what;
        std::string bytes;
    } cases[] = {
        {"a frame claiming 4 GiB", sealed(huge_claim)},
        {"a frame followed by other bytes", sealed(frame + "more")},
        {"a frame cut short", sealed(frame.substr(0, frame.size() / 2))},
        {"not a frame at all", sealed(std::string(64, 'x'))},
    };
    std::uint64_t refused = f.metrics().corrupt_entries;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        put(*backend_, f.name(), key, c.bytes);
        const int before = *calls;
        EXPECT_EQ(f(large), compressible(large));
        EXPECT_EQ(*calls, before + 1);
        EXPECT_EQ(f.metrics().corrupt_entries, ++refused);
    }

    // A reader whose read_size_limit is below the value's size refuses it and computes it itself.
    auto limited_opts = opts;
    limited_opts.read_size_limit = "10KB";
    auto limited = cachier::cachier(fn_name(), make, limited_opts);
    const int before = *calls;
    EXPECT_EQ(limited(large), compressible(large));
    EXPECT_EQ(*calls, before + 1);
    EXPECT_EQ(limited.metrics().corrupt_entries, 1U);
}

TEST_P(Conformance, ValuesLargerThanReadSizeLimitAreRecomputed) {
    if (!backend_->capabilities().stores_outside_process) GTEST_SKIP() << "values never leave the process";
    const counted_text make;
    auto opts = base_options();
    auto writer = cachier::cachier(fn_name(), make, opts);
    EXPECT_EQ(writer(large), compressible(large));
    opts.read_size_limit = "100KB";
    auto limited = cachier::cachier(fn_name(), make, opts);
    EXPECT_EQ(limited(large), compressible(large));
    EXPECT_EQ(*make.calls, 2) << "a 200 KB value is not read under a 100 KB limit";
    EXPECT_EQ(limited(1000), compressible(1000));
    EXPECT_EQ(limited(1000), compressible(1000));
    EXPECT_EQ(*make.calls, 3) << "smaller values are read as usual";
}

TEST_P(Conformance, CompressionSettingsAreChecked) {
    auto opts = base_options();
    opts.compression = compression::zstd(1000);
    EXPECT_THROW(cachier::cachier(fn_name(), compressible, opts)(1), config_error);
    opts.compression = compression::off();
    opts.read_size_limit = 0;
    EXPECT_THROW(cachier::cachier(fn_name(), compressible, opts)(1), config_error);
    opts.read_size_limit = "1MB";
    opts.compression = compression::zstd(19, 0);
    EXPECT_EQ(cachier::cachier(fn_name(), compressible, opts)(5000), compressible(5000));
}

}  // namespace cachier::test
