#include "file_format.hpp"

#include <cstring>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace cachier::detail::file_format {
namespace {

constexpr char magic[8] = {'C', 'A', 'C', 'H', 'I', 'E', 'R', 1};

void put_u64(char* out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint64_t get_u64(const char* in) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    return v;
}

std::uint64_t checksum(const header& head, std::string_view value) {
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    XXH3_64bits_update(&state, head.data() + sizeof(magic), header_size - sizeof(magic));
    XXH3_64bits_update(&state, value.data(), value.size());
    return XXH3_64bits_digest(&state);
}

}  // namespace

void frame(std::string_view value, std::chrono::system_clock::time_point stored_at, header& head, trailer& tail) {
    std::memcpy(head.data(), magic, sizeof(magic));
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(stored_at.time_since_epoch()).count();
    put_u64(head.data() + 8, static_cast<std::uint64_t>(ns));
    put_u64(head.data() + 16, value.size());
    put_u64(tail.data(), checksum(head, value));
}

std::optional<std::uint64_t> value_length(const header& head) {
    if (std::memcmp(head.data(), magic, sizeof(magic)) != 0) return std::nullopt;
    return get_u64(head.data() + 16);
}

std::chrono::system_clock::time_point stored_at(const header& head) {
    const auto ns = static_cast<std::int64_t>(get_u64(head.data() + 8));
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
}

bool intact(const header& head, std::string_view value, const trailer& tail) {
    return get_u64(tail.data()) == checksum(head, value);
}

}  // namespace cachier::detail::file_format
