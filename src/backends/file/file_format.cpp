#include "file_format.hpp"

#include <cstring>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace cachier::detail::file_format {
namespace {

constexpr char magic[8] = {'C', 'A', 'C', 'H', 'I', 'E', 'R', 3};

void put_u64(char* out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint64_t get_u64(const char* in) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
    return v;
}

std::uint64_t to_ns(time_point t) {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

time_point from_ns(std::uint64_t ns) {
    return time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::nanoseconds(static_cast<std::int64_t>(ns))));
}

std::uint64_t checksum(const header& head) {
    return XXH3_64bits(head.data() + sizeof(magic), header_size - sizeof(magic));
}

}  // namespace

void frame(std::uint64_t value_length, time_point stored_at, std::optional<time_point> expires_at, header& head,
           trailer& tail) {
    std::memcpy(head.data(), magic, sizeof(magic));
    put_u64(head.data() + 8, to_ns(stored_at));
    put_u64(head.data() + 16, expires_at ? std::max<std::uint64_t>(1, to_ns(*expires_at)) : 0);
    put_u64(head.data() + 24, value_length);
    put_u64(tail.data(), checksum(head));
}

std::optional<header_fields> parse(const header& head, header_problem& problem) {
    if (std::memcmp(head.data(), magic, sizeof(magic) - 1) != 0) {
        problem = header_problem::not_an_entry;
        return std::nullopt;
    }
    if (head[sizeof(magic) - 1] != magic[sizeof(magic) - 1]) {
        problem = header_problem::other_version;
        return std::nullopt;
    }
    problem = header_problem::none;
    header_fields fields;
    fields.stored_at = from_ns(get_u64(head.data() + 8));
    if (const auto expires = get_u64(head.data() + 16); expires != 0) fields.expires_at = from_ns(expires);
    fields.value_length = get_u64(head.data() + 24);
    return fields;
}

bool intact(const header& head, const trailer& tail) { return get_u64(tail.data()) == checksum(head); }

}  // namespace cachier::detail::file_format
