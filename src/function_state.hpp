#pragma once
// What one cached function (and all its copies) shares: name, own options, resolved settings,
// metrics and the set of keys being refreshed in the background.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include <cachier/detail/engine.hpp>

#include "metrics_recorder.hpp"
#include "settings.hpp"

namespace cachier::detail {

class function_state : public std::enable_shared_from_this<function_state> {
public:
    function_state(std::string name, options own);

    /// The settings in force now. Lock-free unless the global parameters changed since the last call;
    /// earlier snapshots stay alive with the function, so a reference stays valid for a whole call.
    const resolved_settings& settings();

    const std::string name;
    const std::string key_prefix;
    const options own;
    metrics_recorder metrics;

    std::mutex refresh_mutex;
    std::unordered_set<std::string> refreshing;  // keys with a background refresh queued or running

    std::atomic<std::int64_t> last_cleanup{0};  // steady_clock ticks of the last scheduled cleanup

private:
    std::atomic<const resolved_settings*> current_{nullptr};
    std::mutex resolve_mutex_;
    std::vector<std::unique_ptr<const resolved_settings>> snapshots_;
};

}  // namespace cachier::detail
