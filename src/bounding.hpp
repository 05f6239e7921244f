#pragma once
// Bounded caches (options::max_entries, options::max_bytes): uses recorded in batches, and
// least-recently-used eviction in the background after stores.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cachier::detail {

class function_state;
struct resolved_settings;

/// What one function keeps for its bounds, shared by its copies.
class bounding_state {
public:
    /// How often one process records a use of the same entry, at most.
    static constexpr std::chrono::seconds use_interval{1};

private:
    friend void note_use(function_state& fn, const resolved_settings& settings, std::string_view key);
    friend void note_store(function_state& fn, const resolved_settings& settings, std::string_view key,
                           std::uint64_t bytes);

    struct text_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    // Uses recorded by this process: when each entry was last touched, and those to touch next.
    std::mutex uses_mutex_;
    std::unordered_map<std::string, std::int64_t, text_hash, std::equal_to<>> touched_;
    std::vector<std::pair<const resolved_settings*, std::string>> to_touch_;
    bool touch_queued_ = false;

    // Stores by this process since the last eviction pass started.
    std::atomic<std::uint64_t> stores_since_pass_{0};
    std::atomic<std::uint64_t> bytes_since_pass_{0};
    std::atomic<bool> passed_once_{false};
    std::mutex pass_mutex_;
    std::condition_variable pass_done_;
    bool pass_running_ = false;
};

/// A read of `key` returned its value: records the use, at most once per use_interval per entry
/// and never on the calling thread's time (a batch is touched in the background).
void note_use(function_state& fn, const resolved_settings& settings, std::string_view key);

/// A value of `bytes` was stored under `key`: every so often starts an eviction pass in the
/// background; holds the storing caller only when it stored far past a pass still running.
void note_store(function_state& fn, const resolved_settings& settings, std::string_view key, std::uint64_t bytes);

}  // namespace cachier::detail
