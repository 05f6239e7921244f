#pragma once
// Bounded caches (options::max_entries, options::max_bytes): uses recorded in batches, and
// least-recently-used eviction in the background after stores.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace cachier::detail {

class function_state;
struct resolved_settings;

/// Stored values and their bytes, as a pass counts them.
struct stored_totals {
    std::uint64_t entries = 0;  ///< values
    std::uint64_t bytes = 0;    ///< their stored size
};

/// What the next pass will find, foreseen from what the passes of this process found: between two
/// passes every process stores, so a pass that waits until the limit is passed finds it passed by
/// all their stores. Used by one pass at a time.
class growth_forecast {
public:
    /// A pass found `now`; returns what the next pass is expected to find: `now` plus the growth seen
    /// between passes. The largest growth of late counts: removals by other processes hide some.
    stored_totals next(stored_totals now) noexcept;

    /// The pass removed `removed`.
    void removed(stored_totals removed) noexcept;

private:
    std::optional<stored_totals> last_;  // what the last pass left
    stored_totals growth_;
};

/// When eviction passes run for one set of values (a function's, or a whole storage's): after every
/// 1/50 of a limit stored by this process, one at a time.
class pass_schedule {
public:
    /// Foresees the stores of every process; touched by the running pass only.
    growth_forecast forecast;

    /// Counts a store; when a pass is due and none runs, returns true and the caller must start
    /// one (and call pass_ended when it ends). A store made while a pass that started a step ago
    /// still runs waits for it (never on a pool thread), so that slow storage cannot fall behind.
    bool store_made(std::uint64_t bytes, std::uint64_t entry_step, std::uint64_t byte_step);

    /// The pass ended; true when stores made meanwhile call for another one now (the caller runs it
    /// and calls pass_ended again).
    bool pass_ended(std::uint64_t entry_step, std::uint64_t byte_step);

private:
    std::atomic<std::uint64_t> stores_since_pass_{0};
    std::atomic<std::uint64_t> bytes_since_pass_{0};
    std::atomic<bool> passed_once_{false};
    std::mutex mutex_;
    std::condition_variable done_;
    bool running_ = false;
};

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

    pass_schedule passes_;  // of the function's values (max_entries, max_bytes)
};

/// A read of `key` returned its value: records the use, at most once per use_interval per entry
/// and never on the calling thread's time (a batch is touched in the background).
void note_use(function_state& fn, const resolved_settings& settings, std::string_view key);

/// A value of `bytes` was stored under `key`: every so often starts an eviction pass in the
/// background, of the function (max_entries, max_bytes) and of the whole storage (its store limits);
/// holds the storing caller only when it stored a step past a pass still running.
void note_store(function_state& fn, const resolved_settings& settings, std::string_view key, std::uint64_t bytes);

}  // namespace cachier::detail
