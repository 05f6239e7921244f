#pragma once
// Global parameters and the resolution of a function's options against them.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include <cachier/options.hpp>

namespace cachier::detail {

class change_hub;
class value_tier;
class split_reader;

/// A function's options with every unset field taken from the global parameters.
struct resolved_settings {
    std::shared_ptr<cachier::backend> backend;
    std::shared_ptr<change_hub> hub;  // wakes this process's waiters on the backend's changes
    options values;                   // every field set: the function's own, else the global one
    // The fields the call path reads, converted once.
    std::chrono::nanoseconds stale_after{};
    bool next_time = false;
    std::chrono::nanoseconds wait_for_calc_timeout{};
    bool allow_none = false;
    bool cleanup_stale = false;
    std::chrono::nanoseconds cleanup_interval{};
    std::uint64_t entry_size_limit = 0;
    int compression_level = 0;                 // zstd; 0: off
    std::uint64_t compression_min_size = 0;    // bytes of the encoding
    std::uint64_t read_size_limit = 0;         // bytes a read may decompress to
    bool enable_metrics = false;
    double metrics_sampling_rate = 1.0;
    bool verbose = false;
    std::chrono::milliseconds claim_lease{};
    bool cleanup_other_versions = false;
    std::uint64_t max_entries = 0;  // unlimited: the largest value
    std::uint64_t max_bytes = 0;    // unlimited: the largest value
    std::chrono::nanoseconds stale_if_error{};  // zero: off
    bool early_refresh = false;
    // Set by the function the settings belong to: the name its entries are stored under (its
    // name, and its version when it has one) and the digest prefix of its keys.
    std::string stored_name;
    std::string key_prefix;
    // The function's in-process tier of decoded values for these settings, when its backend is
    // in-process storage and the function is not bounded; null otherwise.
    std::shared_ptr<value_tier> tier;
    // The backend as a split_reader, when it is one (see split_reader.hpp); null otherwise.
    split_reader* splitter = nullptr;

    /// Whether max_entries or max_bytes limits the function.
    [[nodiscard]] bool bounded() const noexcept {
        return max_entries != std::numeric_limits<std::uint64_t>::max() ||
               max_bytes != std::numeric_limits<std::uint64_t>::max();
    }

    /// Whether stores and hits feed eviction: the function is bounded, or its backend has store limits.
    [[nodiscard]] bool evicts() const noexcept { return bounded() || backend->has_store_limits(); }

    /// Equal settings (the version aside): a function keeps one snapshot per distinct setting.
    [[nodiscard]] bool same_as(const resolved_settings& other) const noexcept;
};

// Constant-initialized globals, read inline on every call: the version advances on every
// set_global_params/reset_global_params; enabled is cachier::caching_enabled().
extern constinit std::atomic<std::uint64_t> global_version;
extern constinit std::atomic<bool> global_enabled;

/// Advances on every set_global_params/reset_global_params.
[[nodiscard]] inline std::uint64_t global_params_version() noexcept {
    return global_version.load(std::memory_order_acquire);
}
/// Whether caching is enabled (cachier::caching_enabled()), read inline.
[[nodiscard]] inline bool caching_on() noexcept { return global_enabled.load(std::memory_order_acquire); }

/// Resolves `own` against the current global parameters (creating the default backend if needed).
[[nodiscard]] resolved_settings resolve_settings(const options& own);

/// The file backend for a directory, shared by every function using that directory in this process.
[[nodiscard]] std::shared_ptr<cachier::backend> shared_file_backend(const std::filesystem::path& directory);

}  // namespace cachier::detail
