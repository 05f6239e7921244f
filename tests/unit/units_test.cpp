// Option value types: sizes from strings, durations from any std::chrono duration.

#include <gtest/gtest.h>

#include <cachier/options.hpp>

using namespace std::chrono_literals;

TEST(ByteSize, ParsesHumanReadableSizes) {
    EXPECT_EQ(cachier::byte_size("512").bytes(), 512U);
    EXPECT_EQ(cachier::byte_size("10KB").bytes(), 10U * 1024);
    EXPECT_EQ(cachier::byte_size("1.5MB").bytes(), 1536U * 1024);
    EXPECT_EQ(cachier::byte_size("2 GiB").bytes(), 2ULL << 30);
    EXPECT_EQ(cachier::byte_size("3k").bytes(), 3072U);
    EXPECT_EQ(cachier::byte_size(std::uint64_t{77}).bytes(), 77U);
}

TEST(ByteSize, RejectsWhatIsNotASize) {
    EXPECT_THROW(cachier::byte_size("ten KB"), cachier::config_error);
    EXPECT_THROW(cachier::byte_size("10XB"), cachier::config_error);
    EXPECT_THROW(cachier::byte_size(""), cachier::config_error);
    EXPECT_THROW(cachier::byte_size(-1), cachier::config_error);
    try {
        cachier::byte_size bad("5 parsecs");
        FAIL();
    } catch (const cachier::config_error& e) {
        EXPECT_NE(std::string(e.what()).find("5 parsecs"), std::string::npos);
    }
}

TEST(Duration, AcceptsAnyChronoDuration) {
    cachier::options o;
    o.stale_after = 500ms;
    EXPECT_EQ(o.stale_after->get(), 500ms);
    o.stale_after = 24h;
    EXPECT_EQ(o.stale_after->get(), 24h);
    o.stale_after = std::chrono::duration<double>(1.5);
    EXPECT_EQ(o.stale_after->get(), 1500ms);
    o.stale_after = std::chrono::years(1000);  // saturates instead of overflowing
    EXPECT_EQ(o.stale_after->get(), std::chrono::nanoseconds::max());
    o.entry_size_limit = "10KB";
    EXPECT_EQ(o.entry_size_limit->bytes(), 10240U);
}

TEST(GlobalParams, SetFieldsReplaceAndOthersStay) {
    cachier::reset_global_params();
    cachier::options a;
    a.stale_after = 5s;
    cachier::set_global_params(a);
    cachier::options b;
    b.next_time = true;
    cachier::set_global_params(b);
    const auto g = cachier::get_global_params();
    EXPECT_EQ(g.stale_after->get(), 5s);
    EXPECT_TRUE(*g.next_time);
    EXPECT_FALSE(*g.allow_none);
    EXPECT_TRUE(g.backend != nullptr);
    cachier::reset_global_params();
    EXPECT_EQ(cachier::get_global_params().stale_after->get(), std::chrono::nanoseconds::max());
}

TEST(GlobalParams, RejectsInvalidValues) {
    cachier::options bad;
    bad.metrics_sampling_rate = 2.0;
    EXPECT_THROW(cachier::set_global_params(bad), cachier::config_error);
    cachier::options negative;
    negative.wait_for_calc_timeout = -1s;
    EXPECT_THROW(cachier::set_global_params(negative), cachier::config_error);
    cachier::options negative_fallback;
    negative_fallback.stale_if_error = -1s;
    EXPECT_THROW(cachier::set_global_params(negative_fallback), cachier::config_error);
}
