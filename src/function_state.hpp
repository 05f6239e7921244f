#pragma once
// What one cached function (and all its copies) shares: name, own options, resolved settings,
// metrics and the set of keys being refreshed in the background.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <cachier/detail/engine.hpp>

#include "bounding.hpp"
#include "metrics_recorder.hpp"
#include "settings.hpp"

namespace cachier::detail {

class function_state : public std::enable_shared_from_this<function_state> {
public:
    function_state(std::string name, options own);

    ~function_state();
    function_state(const function_state&) = delete;
    function_state& operator=(const function_state&) = delete;

    /// The settings in force now. Lock-free unless the global parameters changed since the last call.
    /// A snapshot stays alive with the function, so a reference stays valid for a whole call (and
    /// for background work, which holds the function); equal snapshots are shared, so changing the
    /// global parameters back and forth keeps one snapshot per distinct setting.
    const resolved_settings& settings();

    /// Asks the settings' backend to report other processes' changes to the entries of this
    /// function (of the settings' version) from now on; once per backend and stored name.
    void watch(const resolved_settings& settings);

    const std::string name;
    const options own;
    metrics_recorder metrics;

    std::mutex refresh_mutex;
    std::unordered_set<std::string> refreshing;  // keys with a background refresh queued or running

    std::atomic<std::int64_t> last_cleanup{0};  // steady_clock ticks of the last scheduled cleanup

    /// How long a computation takes in this process (a moving average, ns; 0 before the first):
    /// how early early_refresh starts a refresh.
    std::atomic<std::int64_t> compute_ns{0};

    bounding_state bounds;  // max_entries / max_bytes: uses to record, eviction passes

private:
    // The version is published after the pointer, so a reader that sees the current version sees a
    // snapshot at least that new.
    std::atomic<const resolved_settings*> current_{nullptr};
    std::atomic<std::uint64_t> current_version_{0};
    std::mutex resolve_mutex_;
    std::vector<std::unique_ptr<resolved_settings>> snapshots_;
    std::mutex watch_mutex_;
    std::vector<std::pair<std::shared_ptr<backend>, std::string>> watching_;  // backend, stored name
};

}  // namespace cachier::detail
