// libFuzzer target: decode<T> of arbitrary bytes, for one value type chosen at build time.
//
// Checks, for every input: no crash and no undefined behaviour (the sanitizers), memory taken by
// the decoding within the documented bound (measured with the sanitizer's allocation hooks), and
// for inputs that decode, that the value encodes again and decodes to the same encoding.
// CACHIER_FUZZ_SEEDS=<dir> writes a few valid encodings to <dir> (a starting corpus) and exits.

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include <sanitizer/allocator_interface.h>

#include <cachier/serialization.hpp>

namespace {

/// A recursive user type.
struct tree {
    std::int32_t value = 0;
    std::string label;
    std::vector<tree> children;
    std::optional<std::map<std::string, tree>> named;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(value, label, children, named);
    }
};

#if defined(CACHIER_FUZZ_TYPE_integers)
using value_type = std::tuple<std::int8_t, std::uint16_t, std::int32_t, std::uint64_t, bool, double>;
std::vector<value_type> seeds() { return {{-1, 2, 3, 4, true, 0.5}, {}}; }
#elif defined(CACHIER_FUZZ_TYPE_strings)
using value_type = std::string;
std::vector<value_type> seeds() { return {"", "hello", std::string(100, 'x')}; }
#elif defined(CACHIER_FUZZ_TYPE_vectors)
using value_type = std::vector<std::vector<std::int64_t>>;
std::vector<value_type> seeds() { return {{}, {{1, 2}, {}, {3}}}; }
#elif defined(CACHIER_FUZZ_TYPE_maps)
using value_type = std::map<std::string, std::vector<double>>;
std::vector<value_type> seeds() { return {{}, {{"a", {1.0}}, {"b", {}}}}; }
#elif defined(CACHIER_FUZZ_TYPE_tuples)
using value_type = std::tuple<std::string, std::int32_t, std::pair<double, std::vector<std::string>>>;
std::vector<value_type> seeds() { return {{"k", 7, {1.5, {"x", "y"}}}}; }
#elif defined(CACHIER_FUZZ_TYPE_optionals)
using value_type = std::vector<std::optional<std::array<char, 256>>>;
std::vector<value_type> seeds() { return {{std::nullopt, std::array<char, 256>{}}, {}}; }
#elif defined(CACHIER_FUZZ_TYPE_variants)
using value_type = std::variant<std::monostate, std::int64_t, std::string, std::vector<bool>>;
std::vector<value_type> seeds() { return {{}, std::int64_t{5}, std::string("s"), std::vector<bool>{true, false}}; }
#elif defined(CACHIER_FUZZ_TYPE_containers)
using value_type = std::tuple<std::list<char>, std::deque<std::int16_t>, std::unordered_map<std::int32_t, std::string>,
                              std::multiset<std::int8_t>, std::set<std::string>>;
std::vector<value_type> seeds() { return {{{'a'}, {1, 2}, {{1, "one"}}, {1, 1}, {"s"}}}; }
#elif defined(CACHIER_FUZZ_TYPE_tree)
using value_type = tree;
std::vector<value_type> seeds() {
    tree t;
    t.value = 1;
    t.children.resize(2);
    t.children[1].named.emplace();
    (*t.children[1].named)["leaf"].label = "l";
    return {t, tree{}};
}
#else
#error "define CACHIER_FUZZ_TYPE_<type>"
#endif

// Live bytes allocated while `measuring`, and their peak.
std::atomic<bool> measuring{false};
std::atomic<std::size_t> live{0};
std::atomic<std::size_t> peak{0};

void on_malloc(const volatile void*, std::size_t size) {
    if (!measuring.load(std::memory_order_relaxed)) return;
    const std::size_t now = live.fetch_add(size, std::memory_order_relaxed) + size;
    if (now > peak.load(std::memory_order_relaxed)) peak.store(now, std::memory_order_relaxed);
}

void on_free(const volatile void* pointer) {
    if (!measuring.load(std::memory_order_relaxed) || pointer == nullptr) return;
    const std::size_t size = __sanitizer_get_allocated_size(const_cast<const void*>(pointer));
    live.fetch_sub(std::min(size, live.load(std::memory_order_relaxed)), std::memory_order_relaxed);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (const char* dir = std::getenv("CACHIER_FUZZ_SEEDS")) {
        int n = 0;
        for (const auto& seed : seeds()) {
            std::ofstream(std::string(dir) + "/seed" + std::to_string(n++), std::ios::binary) << cachier::encode(seed);
        }
        std::exit(0);
    }
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    live = 0;
    peak = 0;
    measuring = true;
    auto decoded = cachier::decode<value_type>(bytes);
    measuring = false;
    // Containers within allocation_factor * n + allowance, strings and numbers within n; the
    // slack covers the decoder's own bookkeeping (a few small allocations).
    const std::size_t bound = cachier::detail::allocation_budget(size) + size + 4096;
    if (peak > bound) {
        std::fprintf(stderr, "decoding %zu bytes took %zu bytes at peak (bound %zu)\n", size, peak.load(), bound);
        std::abort();
    }
    if (decoded) {
        const std::string again = cachier::encode(*decoded);
        auto twice = cachier::decode<value_type>(again);
        if (!twice || cachier::encode(*twice) != again) {
            std::fprintf(stderr, "a decoded value did not survive encode and decode\n");
            std::abort();
        }
    }
    return 0;
}
