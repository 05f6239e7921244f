#include "function_registry.hpp"

#include <mutex>
#include <unordered_set>

#include "function_state.hpp"

namespace cachier::detail {
namespace {

struct registry {
    std::mutex mutex;
    std::unordered_set<function_state*> live;
    std::map<std::string, recorded_counts> gone;  // counts of destroyed functions, by name
};

// Never destroyed: functions in static storage unregister after main returns.
registry& the_registry() {
    static auto* r = new registry;
    return *r;
}

}  // namespace

void register_function(function_state& fn) {
    registry& r = the_registry();
    const std::lock_guard lock(r.mutex);
    r.live.insert(&fn);
}

void unregister_function(function_state& fn) {
    registry& r = the_registry();
    const recorded_counts counts = fn.metrics.counts();
    const std::lock_guard lock(r.mutex);
    r.live.erase(&fn);
    if (counts.counters[static_cast<std::size_t>(counter::calls)] > 0) r.gone[fn.name] += counts;
}

std::map<std::string, exported_function> exported_functions() {
    registry& r = the_registry();
    std::map<std::string, exported_function> out;
    const std::lock_guard lock(r.mutex);
    for (const auto& [name, counts] : r.gone) out[name].counts += counts;
    for (function_state* fn : r.live) {
        const resolved_settings& settings = fn->settings();
        if (!settings.enable_metrics) continue;
        exported_function& e = out[fn->name];
        e.counts += fn->metrics.counts();
        e.store = settings.backend;
        e.stored_name = settings.stored_name;
    }
    return out;
}

}  // namespace cachier::detail
