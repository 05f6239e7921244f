#include "envelope.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "checksum.hpp"

namespace cachier::detail::envelope {
namespace {

constexpr unsigned char magic0 = 0xCA;
constexpr unsigned char magic1 = 0xCE;
constexpr unsigned char format_version = 1;

void put_u64(char* out, std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint64_t get_u64(const char* in) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    return v;
}

}  // namespace

const char* describe(problem p) noexcept {
    switch (p) {
        case problem::none: return "intact";
        case problem::foreign: return "not written by this release (an earlier format, or not cachier's)";
        case problem::version: return "written in a newer envelope format";
        case problem::truncated: return "truncated";
        case problem::misplaced: return "belongs to another function or key";
        case problem::damaged: return "damaged (checksum mismatch)";
    }
    return "unknown";
}

std::uint64_t identity(std::string_view function, std::string_view key) noexcept {
    // The function's length first, so that ("ab", "c") and ("a", "bc") differ.
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    char length[8];
    put_u64(length, function.size());
    XXH3_64bits_update(&state, length, sizeof(length));
    XXH3_64bits_update(&state, function.data(), function.size());
    XXH3_64bits_update(&state, key.data(), key.size());
    return XXH3_64bits_digest(&state);
}

void seal(std::string& stored, std::uint64_t identity, coding how, std::string_view tail) noexcept {
    char* head = stored.data();
    head[0] = static_cast<char>(magic0);
    head[1] = static_cast<char>(magic1);
    head[2] = static_cast<char>(format_version);
    head[3] = static_cast<char>(how);
    put_u64(head + 4, identity);
    put_u64(head + 12, value_checksum(std::string_view(stored).substr(size), tail));
}

std::optional<std::string_view> open(std::string_view stored, std::uint64_t identity, problem& why,
                                     coding& how) noexcept {
    return open_split(stored, {}, identity, why, how);
}

std::optional<std::string_view> open_split(std::string_view stored, std::string_view body, std::uint64_t identity,
                                           problem& why, coding& how) noexcept {
    if (stored.size() < 3 || static_cast<unsigned char>(stored[0]) != magic0 ||
        static_cast<unsigned char>(stored[1]) != magic1) {
        why = stored.size() < 3 && !stored.empty() && static_cast<unsigned char>(stored[0]) == magic0
                  ? problem::truncated
                  : problem::foreign;
        return std::nullopt;
    }
    const auto coding_byte = stored.size() >= 4 ? static_cast<unsigned char>(stored[3]) : 0;
    if (static_cast<unsigned char>(stored[2]) != format_version || coding_byte > static_cast<unsigned char>(coding::zstd)) {
        why = problem::version;
        return std::nullopt;
    }
    if (stored.size() < size) {
        why = problem::truncated;
        return std::nullopt;
    }
    const std::string_view value = stored.substr(size);
    if (get_u64(stored.data() + 12) != value_checksum(value, body)) {
        why = problem::damaged;
        return std::nullopt;
    }
    if (get_u64(stored.data() + 4) != identity) {
        why = problem::misplaced;
        return std::nullopt;
    }
    why = problem::none;
    how = static_cast<coding>(coding_byte);
    return value;
}

}  // namespace cachier::detail::envelope
