// The buffers stored values are read into and encoded into: a thread's next read of about the same
// size, or its next encoding, reuses the buffer it gave back, and a small read never gets (and so
// never keeps) a much larger buffer.

#include <string>

#include <gtest/gtest.h>

#include "value_buffers.hpp"

namespace {

using cachier::detail::recycle_value_buffer;
using cachier::detail::take_encode_buffer;
using cachier::detail::take_value_buffer;

TEST(ValueBuffers, ANearlySameSizedReadReusesTheBufferGivenBack) {
    std::string first = take_value_buffer(100008);
    ASSERT_EQ(first.size(), 100008u);
    const char* where = first.data();
    recycle_value_buffer(std::move(first));
    std::string smaller = take_value_buffer(100000);
    EXPECT_EQ(smaller.size(), 100000u);
    EXPECT_EQ(smaller.data(), where);
    recycle_value_buffer(std::move(smaller));
    const std::string again = take_value_buffer(100008);  // grows back within its capacity
    EXPECT_EQ(again.size(), 100008u);
    EXPECT_EQ(again.data(), where);
}

TEST(ValueBuffers, ASmallReadDoesNotTakeALargeBuffer) {
    std::string large = take_value_buffer(1 << 20);
    const char* where = large.data();
    recycle_value_buffer(std::move(large));
    const std::string small = take_value_buffer(100);
    EXPECT_EQ(small.size(), 100u);
    EXPECT_LT(small.capacity(), std::size_t{1} << 20);
    // The large one is still there for a large read.
    EXPECT_EQ(take_value_buffer(1 << 20).data(), where);
}

TEST(ValueBuffers, AnEncodingStartsEmptyInTheBufferGivenBack) {
    std::string stored = take_value_buffer(50000);
    const char* where = stored.data();
    recycle_value_buffer(std::move(stored));
    const std::string encoding = take_encode_buffer();
    EXPECT_TRUE(encoding.empty());
    EXPECT_EQ(encoding.data(), where);
    EXPECT_GE(encoding.capacity(), 50000u);
    EXPECT_TRUE(take_encode_buffer().empty());  // taken: the next one starts fresh
}

}  // namespace
