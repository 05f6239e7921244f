// Entry keys are SHA-256 digests: known vectors, and a key is the digest of its prefix and bytes.

#include <string>

#include <gtest/gtest.h>

#include "digest.hpp"

namespace cachier::detail {
namespace {

TEST(Digest, Sha256MatchesKnownVectors) {
    EXPECT_EQ(sha256_hex("").view(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc").view(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex(std::string(1000000, 'a')).view(),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Digest, KeyIsTheDigestOfThePrefixFollowedByTheArguments) {
    const std::string prefix = key_prefix("pricing.quote");
    ASSERT_EQ(prefix.size(), 8U + 13U);
    EXPECT_EQ(prefix[0], '\x0d');
    EXPECT_EQ(digest_key(prefix, "argument bytes").view(), sha256_hex(prefix + "argument bytes").view());
    EXPECT_NE(digest_key(key_prefix("ab"), "c").view(), digest_key(key_prefix("a"), "bc").view());
}

TEST(Digest, Sha1MatchesAKnownVector) {
    EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

}  // namespace
}  // namespace cachier::detail
