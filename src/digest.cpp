#include "digest.hpp"

// Keys are digested with OpenSSL's SHA-256 functions, not its EVP interface: the first EVP fetch
// initialises the provider machinery (1 to 1.6 ms here), which every short-lived process would pay
// on its first cached call; these functions cost about 10 us the first time and are as fast after.
// OpenSSL 3 marks them deprecated in favour of EVP, which remains for what is not on the call path.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdint>

#include <cachier/errors.hpp>

namespace cachier::detail {
namespace {

hex_key to_hex(const unsigned char (&digest)[SHA256_DIGEST_LENGTH]) {
    static constexpr char digits[] = "0123456789abcdef";
    hex_key out;
    for (std::size_t i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
        out.chars[2 * i] = digits[digest[i] >> 4];
        out.chars[2 * i + 1] = digits[digest[i] & 0x0f];
    }
    return out;
}

hex_key digest_parts(std::string_view prefix, std::string_view data) {
    SHA256_CTX ctx;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, prefix.data(), prefix.size()) != 1 ||
        SHA256_Update(&ctx, data.data(), data.size()) != 1 || SHA256_Final(digest, &ctx) != 1)
        throw backend_error("SHA-256 computation failed");
    return to_hex(digest);
}

}  // namespace

std::string key_prefix(std::string_view function) {
    std::string prefix;
    prefix.reserve(8 + function.size());
    const auto length = static_cast<std::uint64_t>(function.size());
    for (int i = 0; i < 8; ++i) prefix.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
    prefix.append(function);
    return prefix;
}

hex_key digest_key(std::string_view prefix, std::string_view key_bytes) { return digest_parts(prefix, key_bytes); }

hex_key sha256_hex(std::string_view data) { return digest_parts({}, data); }

std::string sha1_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha1(), nullptr) != 1)
        throw backend_error("SHA-1 computation failed");
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(digits[digest[i] >> 4]);
        out.push_back(digits[digest[i] & 0x0f]);
    }
    return out;
}

}  // namespace cachier::detail
