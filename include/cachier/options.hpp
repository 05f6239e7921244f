#pragma once
/// @file options.hpp
/// @brief Options of a cached function, per-call options and the global parameters.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <cachier/backend.hpp>
#include <cachier/units.hpp>

namespace cachier {

/// How stored values are compressed: with zstd at a level, from a size up. A compressed entry
/// says so itself, so any reader decodes it whatever its own setting.
struct compression {
    /// zstd's level: 1 (fastest) to 19 (smallest), negative for its faster still levels; 0: off.
    int level = 0;
    /// Encoded values smaller than this are stored as they are (compressing them saves little).
    byte_size min_size = std::uint64_t{4096};

    /// zstd at `level` (3: zstd's own default) for values of at least `min_size` bytes.
    [[nodiscard]] static compression zstd(int level = 3, byte_size min_size = std::uint64_t{4096}) {
        return compression{level, min_size};
    }
    /// No compression (the default).
    [[nodiscard]] static compression off() noexcept { return {}; }
    /// Whether values are compressed at all.
    [[nodiscard]] bool enabled() const noexcept { return level != 0; }

    /// Settings compare field by field.
    friend bool operator==(const compression&, const compression&) = default;
};

/// Options of one cached function. Every field is optional: an unset field takes the global
/// parameter's value at the time of each call, so set_global_params affects functions wrapped before.
/// The upstream (Python cachier) name of each field is given in brackets.
struct options {
    /// Storage [backend/mongetter/redis_client/...]. Unset: the global backend; if that is unset too,
    /// $CACHIER_BACKEND's URL, else the file backend in `cache_dir`.
    std::shared_ptr<cachier::backend> backend;
    /// Values older than this are stale [stale_after]. Default: never stale.
    std::optional<duration> stale_after;
    /// On a stale hit, return the stale value at once and refresh in the background [next_time].
    std::optional<bool> next_time;
    /// How long to wait for another caller computing the same key before computing yourself;
    /// 0 waits until that caller finishes or its claim expires [wait_for_calc_timeout]. Default 0.
    std::optional<duration> wait_for_calc_timeout;
    /// Cache empty results (std::nullopt) too [allow_none]. Default false.
    std::optional<bool> allow_none;
    /// Directory of the file backend used when no backend is set [cache_dir].
    std::optional<std::filesystem::path> cache_dir;
    /// Remove stale entries in the background every cleanup_interval [cleanup_stale]. Default false.
    std::optional<bool> cleanup_stale;
    /// How often stale entries are removed when cleanup_stale is on [cleanup_interval]. Default 24h.
    std::optional<duration> cleanup_interval;
    /// Values whose encoding is larger are returned but not stored [entry_size_limit]. Default none.
    std::optional<byte_size> entry_size_limit;
    /// Compress stored values, e.g. `cachier::compression::zstd(3)`; only a value that shrinks is
    /// stored compressed, and entry_size_limit and max_bytes count the bytes stored. Values on the
    /// memory backend never leave the process and are never compressed. Default: off.
    std::optional<cachier::compression> compression;
    /// A stored value that would take more than this to read back (a compressed value: its
    /// decompressed size) is refused as damaged, whatever its entry claims. Default 1GiB.
    std::optional<byte_size> read_size_limit;
    /// Count hits, misses and latencies [enable_metrics]. Default false.
    std::optional<bool> enable_metrics;
    /// Fraction of calls whose latency is measured, 0..1 [metrics_sampling_rate]. Default 1.
    std::optional<double> metrics_sampling_rate;
    /// Log every call's decision through the log callback [cachier__verbose]. Default false.
    std::optional<bool> verbose;
    /// How long a claim outlives a computing process that died. Default 10s.
    std::optional<duration> claim_lease;
    /// The version of the function's meaning: entries stored under another version (or none) are
    /// invisible to it, so changing what a function computes needs no new name. Default "" (none).
    /// Entries of each version are kept apart in the backend, under stored_function_name().
    std::optional<std::string> version;
    /// The background cleanup (every cleanup_interval) also removes the entries of the function's
    /// other versions. Default false.
    std::optional<bool> cleanup_other_versions;
    /// Values the function keeps at most (of its version); least recently used ones are evicted in
    /// the background. At least 1. Default: no limit.
    std::optional<std::uint64_t> max_entries;
    /// Stored bytes the function keeps at most (of its version, as the backend stores them, envelope
    /// included); least recently used values are evicted in the background. Default: no limit.
    std::optional<byte_size> max_bytes;
    /// When the function throws, return a stored value no older than this instead (the error is
    /// logged and counted, nothing is stored); a miss, or an older value, lets the exception through.
    /// Default 0: off.
    std::optional<duration> stale_if_error;
    /// Refresh a value in the background shortly before it goes stale, so that callers keep getting
    /// fresh hits: within the last tenth of its life, each hit starts the refresh with a probability
    /// that grows as staleness nears (probabilistic early expiration), one refresh per key across
    /// processes under the claim. Needs a finite stale_after and copyable arguments. Default false.
    std::optional<bool> early_refresh;
};

/// Options of one call [the cachier__* keyword arguments of upstream].
struct call_options {
    /// Call the function and neither read nor write the cache [cachier__skip_cache].
    bool skip_cache = false;
    /// Call the function and store its result even when a fresh value exists [cachier__overwrite_cache].
    bool overwrite_cache = false;
    /// Log this call's decisions [cachier__verbose].
    bool verbose = false;
    /// Treat values older than this as stale for this call; the stricter of it and stale_after wins;
    /// a negative value makes every value stale [max_age].
    std::optional<duration> max_age;
};

/// Replaces the global parameters that are set in `params`; the others keep their values.
/// Takes effect on the next call of every cached function.
void set_global_params(const options& params);

/// The global parameters, every field filled (with the defaults where never set).
[[nodiscard]] options get_global_params();

/// Restores every global parameter to its default.
void reset_global_params();

/// Turns caching on again for every function (the default).
void enable_caching();

/// Makes every cached function call straight through to the wrapped function.
void disable_caching();

/// Whether caching is enabled.
[[nodiscard]] bool caching_enabled() noexcept;

/// Blocks until the background work queued so far (next_time refreshes, stale cleanups) has
/// finished: for tests, and for an orderly shutdown.
void wait_for_background_work();

}  // namespace cachier
