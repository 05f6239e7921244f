#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>

#include <cachier/backends.hpp>

#include "change_hub.hpp"
#include "compression.hpp"
#include "fork.hpp"
#include "option_fields.hpp"
#include "settings.hpp"
#include "split_reader.hpp"

namespace cachier {
namespace detail {
namespace {

options defaults() {
    options o;
    o.stale_after = duration::max();
    o.next_time = false;
    o.wait_for_calc_timeout = std::chrono::nanoseconds(0);
    o.allow_none = false;
    o.cleanup_stale = false;
    o.cleanup_interval = std::chrono::hours(24);
    o.entry_size_limit = byte_size::unlimited();
    o.compression = compression::off();
    o.read_size_limit = std::uint64_t{1} << 30;
    o.enable_metrics = false;
    o.metrics_sampling_rate = 1.0;
    o.verbose = false;
    o.claim_lease = std::chrono::seconds(10);
    o.version = std::string();
    o.cleanup_other_versions = false;
    o.max_entries = std::numeric_limits<std::uint64_t>::max();
    o.max_bytes = byte_size::unlimited();
    o.stale_if_error = std::chrono::nanoseconds(0);
    o.early_refresh = false;
    return o;
}

struct global_state {
    std::mutex mutex;
    options params = defaults();
    std::shared_ptr<cachier::backend> default_backend;  // made on first use
    on_fork_child fork{[this] { renew_lock(mutex); }};
};

// Leaked on purpose: background work may read it during static destruction.
global_state& state() {
    static auto* instance = new global_state;
    return *instance;
}

void validate(const options& o) {
    if (o.metrics_sampling_rate && !(*o.metrics_sampling_rate >= 0.0 && *o.metrics_sampling_rate <= 1.0))
        throw config_error("metrics_sampling_rate must be between 0 and 1");
    if (o.claim_lease && o.claim_lease->get() < std::chrono::milliseconds(1))
        throw config_error("claim_lease must be at least 1ms");
    if (o.cleanup_interval && o.cleanup_interval->get() <= std::chrono::nanoseconds(0))
        throw config_error("cleanup_interval must be positive");
    if (o.wait_for_calc_timeout && o.wait_for_calc_timeout->get() < std::chrono::nanoseconds(0))
        throw config_error("wait_for_calc_timeout cannot be negative");
    if (o.stale_if_error && o.stale_if_error->get() < std::chrono::nanoseconds(0))
        throw config_error("stale_if_error cannot be negative");
    if (o.version && o.version->find('\xFF') != std::string::npos)
        throw config_error("a version cannot hold the byte 0xFF (it separates a name from its version)");
    if (o.compression && o.compression->enabled() && !compression_level_valid(o.compression->level))
        throw config_error("compression level " + std::to_string(o.compression->level) + " is not one of zstd's (" +
                           std::to_string(compression_levels().first) + " to " +
                           std::to_string(compression_levels().second) + ", 0 for off)");
    if (o.read_size_limit && o.read_size_limit->bytes() == 0) throw config_error("read_size_limit must be at least 1 byte");
    if (o.max_entries && *o.max_entries == 0) throw config_error("max_entries must be at least 1 (unset: no limit)");
    if (o.max_bytes && o.max_bytes->bytes() == 0) throw config_error("max_bytes must be at least 1 byte (unset: no limit)");
}

// Caller holds the global mutex.
std::shared_ptr<cachier::backend> global_backend_locked(global_state& g) {
    if (g.params.backend) return g.params.backend;
    if (g.params.cache_dir) return shared_file_backend(*g.params.cache_dir);
    if (!g.default_backend) {
        const char* url = std::getenv("CACHIER_BACKEND");
        g.default_backend = (url != nullptr && *url != '\0') ? backend_from_url(url)
                                                             : shared_file_backend(default_cache_dir());
    }
    return g.default_backend;
}

}  // namespace

constinit std::atomic<std::uint64_t> global_version{1};
constinit std::atomic<bool> global_enabled{true};

resolved_settings resolve_settings(const options& own) {
    validate(own);
    global_state& g = state();
    const std::lock_guard lock(g.mutex);
    const options& p = g.params;
    resolved_settings r;
    if (own.backend) r.backend = own.backend;
    else if (own.cache_dir) r.backend = shared_file_backend(*own.cache_dir);
    else r.backend = global_backend_locked(g);
    for_each_option_field([&](auto field) { r.values.*field = (own.*field) ? own.*field : p.*field; });
    const options& v = r.values;
    r.stale_after = *v.stale_after;
    r.next_time = *v.next_time;
    r.wait_for_calc_timeout = *v.wait_for_calc_timeout;
    r.allow_none = *v.allow_none;
    r.cleanup_stale = *v.cleanup_stale;
    r.cleanup_interval = *v.cleanup_interval;
    r.entry_size_limit = v.entry_size_limit->bytes();
    r.compression_level = v.compression->level;
    r.compression_min_size = v.compression->min_size.bytes();
    r.read_size_limit = v.read_size_limit->bytes();
    r.enable_metrics = *v.enable_metrics;
    r.metrics_sampling_rate = *v.metrics_sampling_rate;
    r.verbose = *v.verbose;
    r.claim_lease = std::chrono::ceil<std::chrono::milliseconds>(v.claim_lease->get());
    r.cleanup_other_versions = *v.cleanup_other_versions;
    r.max_entries = *v.max_entries;
    r.max_bytes = v.max_bytes->bytes();
    r.stale_if_error = *v.stale_if_error;
    r.early_refresh = *v.early_refresh;
    r.hub = change_hub::of(*r.backend);
    r.splitter = dynamic_cast<split_reader*>(r.backend.get());
    return r;
}

bool resolved_settings::same_as(const resolved_settings& o) const noexcept {
    bool same = backend == o.backend;
    for_each_option_field([&](auto field) { same = same && values.*field == o.values.*field; });
    return same;
}

}  // namespace detail

void set_global_params(const options& params) {
    detail::validate(params);
    auto& g = detail::state();
    {
        const std::lock_guard lock(g.mutex);
        auto& p = g.params;
        if (params.backend) p.backend = params.backend;
        detail::for_each_option_field([&](auto field) {
            if (params.*field) p.*field = params.*field;
        });
    }
    detail::global_version.fetch_add(1, std::memory_order_acq_rel);
}

options get_global_params() {
    auto& g = detail::state();
    const std::lock_guard lock(g.mutex);
    options out = g.params;
    out.backend = detail::global_backend_locked(g);
    if (!out.cache_dir) out.cache_dir = default_cache_dir();
    return out;
}

void reset_global_params() {
    auto& g = detail::state();
    {
        const std::lock_guard lock(g.mutex);
        g.params = detail::defaults();
        g.default_backend.reset();
    }
    detail::global_version.fetch_add(1, std::memory_order_acq_rel);
}

void enable_caching() { detail::global_enabled.store(true, std::memory_order_release); }
void disable_caching() { detail::global_enabled.store(false, std::memory_order_release); }
bool caching_enabled() noexcept { return detail::caching_on(); }

}  // namespace cachier
