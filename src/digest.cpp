#include "digest.hpp"

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <new>

#include <cachier/errors.hpp>

namespace cachier::detail {
namespace {

struct md_deleter {
    void operator()(EVP_MD* md) const noexcept { EVP_MD_free(md); }
};
struct ctx_deleter {
    void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

// Fetching the algorithm once avoids OpenSSL's per-call provider lookup.
const EVP_MD* sha256() {
    static const std::unique_ptr<EVP_MD, md_deleter> md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    if (!md) throw backend_error("OpenSSL provides no SHA-256");
    return md.get();
}

EVP_MD_CTX* thread_context() {
    thread_local const std::unique_ptr<EVP_MD_CTX, ctx_deleter> ctx(EVP_MD_CTX_new());
    if (!ctx) throw std::bad_alloc();
    return ctx.get();
}

hex_key to_hex(const unsigned char (&digest)[32]) {
    static constexpr char digits[] = "0123456789abcdef";
    hex_key out;
    for (std::size_t i = 0; i < 32; ++i) {
        out.chars[2 * i] = digits[digest[i] >> 4];
        out.chars[2 * i + 1] = digits[digest[i] & 0x0f];
    }
    return out;
}

hex_key digest_parts(std::string_view prefix, std::string_view data) {
    EVP_MD_CTX* ctx = thread_context();
    unsigned char digest[32];
    unsigned int length = 0;
    if (EVP_DigestInit_ex2(ctx, sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx, prefix.data(), prefix.size()) != 1 ||
        EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 || EVP_DigestFinal_ex(ctx, digest, &length) != 1 ||
        length != sizeof(digest))
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
