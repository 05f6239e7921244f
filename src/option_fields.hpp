#pragma once
// The fields of cachier::options that follow the global-parameter rule (unset: the global value at
// call time), written once: set_global_params, resolution and comparison all go through this list.

#include <cachier/options.hpp>

namespace cachier::detail {

/// Calls `visit(&options::field)` for each such field.
template <class Visit>
constexpr void for_each_option_field(Visit&& visit) {
    visit(&options::stale_after);
    visit(&options::next_time);
    visit(&options::wait_for_calc_timeout);
    visit(&options::allow_none);
    visit(&options::cache_dir);
    visit(&options::cleanup_stale);
    visit(&options::cleanup_interval);
    visit(&options::entry_size_limit);
    visit(&options::compression);
    visit(&options::read_size_limit);
    visit(&options::enable_metrics);
    visit(&options::metrics_sampling_rate);
    visit(&options::verbose);
    visit(&options::claim_lease);
    visit(&options::version);
    visit(&options::cleanup_other_versions);
    visit(&options::max_entries);
    visit(&options::max_bytes);
    visit(&options::stale_if_error);
    visit(&options::early_refresh);
}

}  // namespace cachier::detail
