// The in-process backend: entries in sharded hash maps, so that concurrent hits on different keys
// take different locks and scale across cores.

#include <array>
#include <cctype>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include <cachier/backends.hpp>

namespace cachier {
namespace {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct record {
    std::string value;
    std::chrono::steady_clock::time_point stored_at{};
    bool has_value = false;
    claim_token claim;  // empty when nobody computes
};

using key_map = std::unordered_map<std::string, record, string_hash, std::equal_to<>>;
using function_map = std::unordered_map<std::string, key_map, string_hash, std::equal_to<>>;

class memory_store final : public backend {
public:
    std::string_view kind() const noexcept override { return "memory"; }

    std::optional<stored_entry> load(const key_ref& ref) override {
        const shard& s = shard_for(ref);
        const std::shared_lock lock(s.mutex);
        const record* r = find(s, ref);
        if (r == nullptr || !r->has_value) return std::nullopt;
        return stored_entry{r->value, std::chrono::steady_clock::now() - r->stored_at};
    }

    void store(const key_ref& ref, std::string_view value, const claim_token* held) override {
        shard& s = shard_for(ref);
        const std::unique_lock lock(s.mutex);
        record& r = s.functions[std::string(ref.function)][std::string(ref.key)];
        r.value.assign(value);
        r.stored_at = std::chrono::steady_clock::now();
        r.has_value = true;
        if (held != nullptr && r.claim == *held) r.claim.clear();
    }

    // Claims never expire here: their owner lives in this process and always releases them.
    bool try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds) override {
        shard& s = shard_for(ref);
        const std::unique_lock lock(s.mutex);
        record& r = s.functions[std::string(ref.function)][std::string(ref.key)];
        if (!r.claim.empty() && r.claim != token) return false;
        r.claim = token;
        return true;
    }

    void release_claim(const key_ref& ref, const claim_token& token) override {
        shard& s = shard_for(ref);
        const std::unique_lock lock(s.mutex);
        auto fn = s.functions.find(ref.function);
        if (fn == s.functions.end()) return;
        auto it = fn->second.find(ref.key);
        if (it == fn->second.end() || it->second.claim != token) return;
        it->second.claim.clear();
        if (!it->second.has_value) fn->second.erase(it);
    }

    void clear(std::string_view function) override {
        for_each_record(function, [](record& r) { r.has_value = false; });
    }

    void clear_claims(std::string_view function) override {
        for_each_record(function, [](record& r) { r.claim.clear(); });
    }

    std::size_t remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const auto now = std::chrono::steady_clock::now();
        std::size_t removed = 0;
        for_each_record(function, [&](record& r) {
            if (r.has_value && now - r.stored_at > max_age) {
                r.has_value = false;
                ++removed;
            }
        });
        return removed;
    }

    std::optional<std::uint64_t> entry_count(std::string_view function) override {
        std::uint64_t count = 0;
        for (auto& s : shards_) {
            const std::shared_lock lock(s.mutex);
            auto fn = s.functions.find(function);
            if (fn == s.functions.end()) continue;
            for (const auto& [key, r] : fn->second) count += r.has_value ? 1 : 0;
        }
        return count;
    }

private:
    struct alignas(64) shard {
        mutable std::shared_mutex mutex;
        function_map functions;
    };

    shard& shard_for(const key_ref& ref) noexcept {
        // The key is already a uniform digest: its first hex digits pick the shard.
        std::size_t index = 0;
        for (std::size_t i = 0; i < 2 && i < ref.key.size(); ++i)
            index = index * 16 + static_cast<std::size_t>(std::isdigit(static_cast<unsigned char>(ref.key[i]))
                                                              ? ref.key[i] - '0'
                                                              : (ref.key[i] | 0x20) - 'a' + 10);
        return shards_[index % shard_count];
    }

    static const record* find(const shard& s, const key_ref& ref) {
        auto fn = s.functions.find(ref.function);
        if (fn == s.functions.end()) return nullptr;
        auto it = fn->second.find(ref.key);
        return it == fn->second.end() ? nullptr : &it->second;
    }

    // Visits the records of one function and drops those left with neither value nor claim.
    template <class Visit>
    void for_each_record(std::string_view function, Visit&& visit) {
        for (auto& s : shards_) {
            const std::unique_lock lock(s.mutex);
            auto fn = s.functions.find(function);
            if (fn == s.functions.end()) continue;
            for (auto it = fn->second.begin(); it != fn->second.end();) {
                visit(it->second);
                if (!it->second.has_value && it->second.claim.empty()) it = fn->second.erase(it);
                else ++it;
            }
        }
    }

    static constexpr std::size_t shard_count = 64;
    std::array<shard, shard_count> shards_;
};

}  // namespace

std::shared_ptr<backend> memory_backend() { return std::make_shared<memory_store>(); }

}  // namespace cachier
