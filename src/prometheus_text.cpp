// cachier::prometheus_text(): every exported function's counters, latency histogram and entry
// count in the Prometheus text exposition format, version 0.0.4.

#include <array>
#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <cachier/metrics_export.hpp>

#include "function_registry.hpp"
#include "log.hpp"

namespace cachier::detail {
namespace {

struct counter_family {
    counter what;
    const char* name;
    const char* help;
};

constexpr std::array<counter_family, 14> counter_families{{
    {counter::calls, "cachier_calls_total", "Cached calls made (skip_cache and disabled caching not counted)."},
    {counter::hits, "cachier_hits_total", "Calls answered with a fresh stored value."},
    {counter::misses, "cachier_misses_total", "Calls that found no usable stored value."},
    {counter::stale_hits, "cachier_stale_hits_total", "Calls that found a stale stored value."},
    {counter::recalculations, "cachier_recalculations_total", "Times the function ran on behalf of the cache."},
    {counter::background_refreshes, "cachier_background_refreshes_total",
     "Recalculations done in the background (next_time, early_refresh)."},
    {counter::waits, "cachier_waits_total", "Calls that waited for another caller's computation."},
    {counter::wait_timeouts, "cachier_wait_timeouts_total", "Waits that passed wait_for_calc_timeout."},
    {counter::size_limit_rejections, "cachier_size_limit_rejections_total",
     "Values returned but not stored because of entry_size_limit."},
    {counter::backend_errors, "cachier_backend_errors_total", "Backend operations that failed."},
    {counter::corrupt_entries, "cachier_corrupt_entries_total",
     "Stored entries refused and recomputed (damaged, foreign or not decodable)."},
    {counter::evictions, "cachier_evictions_total", "Values removed to keep max_entries or max_bytes."},
    {counter::function_errors, "cachier_function_errors_total", "Times the function threw when called for the cache."},
    {counter::stale_if_error_hits, "cachier_stale_if_error_hits_total",
     "Calls answered with a stale stored value because the function threw (stale_if_error)."},
}};

// The exported histogram's upper bounds, in seconds: from a memory hit to a slow computation.
constexpr std::array<double, 24> latency_bounds{1e-6,   2.5e-6, 5e-6,  1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4,
                                                5e-4,   1e-3,   2.5e-3, 5e-3, 0.01,   0.025, 0.05, 0.1,
                                                0.25,   0.5,    1,      2.5,  5,      10,    30,   60};

/// Length of the valid UTF-8 sequence at the start of `s`, 0 when it is not one.
std::size_t utf8_sequence(std::string_view s) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char lead = byte(0);
    if (lead < 0x80) return 1;
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;  // the allowed range of the second byte (no overlongs, no surrogates)
    if (lead >= 0xC2 && lead <= 0xDF) length = 2;
    else if (lead == 0xE0) length = 3, low = 0xA0;
    else if (lead == 0xED) length = 3, high = 0x9F;
    else if (lead >= 0xE1 && lead <= 0xEF) length = 3;
    else if (lead == 0xF0) length = 4, low = 0x90;
    else if (lead >= 0xF1 && lead <= 0xF3) length = 4;
    else if (lead == 0xF4) length = 4, high = 0x8F;
    else return 0;
    if (s.size() < length || byte(1) < low || byte(1) > high) return 0;
    for (std::size_t i = 2; i < length; ++i)
        if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
    return length;
}

/// A label value: backslash, double quote and newline escaped as the format asks; bytes that are
/// not UTF-8 (names are any bytes) written as U+FFFD.
std::string label_value(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    while (!name.empty()) {
        const std::size_t n = utf8_sequence(name);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            name.remove_prefix(1);
            continue;
        }
        if (n == 1 && (name[0] == '\\' || name[0] == '"')) out += '\\';
        if (n == 1 && name[0] == '\n') out += "\\n";
        else out.append(name.substr(0, n));
        name.remove_prefix(n);
    }
    return out;
}

std::string number(double value) {
    std::array<char, 32> text{};
    const auto [end, error] = std::to_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() ? std::string(text.data(), end) : std::string("NaN");
}

void family_header(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void sample(std::string& out, std::string_view name, const std::string& labels, const std::string& value) {
    out += name;
    out += '{';
    out += labels;
    out += "} ";
    out += value;
    out += '\n';
}

/// Cumulative counts of the exported buckets. An internal bucket is counted under the first bound
/// its whole range lies below, so each count is exact or an undercount by less than 19 %.
std::array<std::uint64_t, latency_bounds.size()> cumulative_buckets(const recorded_counts& counts) {
    std::array<std::uint64_t, latency_bounds.size()> cumulative{};
    for (std::size_t b = 0; b < recorded_counts::bucket_count; ++b) {
        const std::uint64_t n = counts.latency_buckets[b];
        if (n == 0) continue;
        const double upper = static_cast<double>(recorded_counts::bucket_upper_bound(b).count()) / 1e9;
        for (std::size_t i = 0; i < latency_bounds.size(); ++i)
            if (upper <= latency_bounds[i]) cumulative[i] += n;
    }
    return cumulative;
}

}  // namespace
}  // namespace cachier::detail

namespace cachier {

std::string prometheus_text() {
    using namespace detail;
    const auto functions = exported_functions();
    struct row {
        std::string label;
        const exported_function* data;
        std::optional<std::uint64_t> entries;
    };
    std::vector<row> rows;
    rows.reserve(functions.size());
    for (const auto& [name, data] : functions) {
        row r{"function=\"" + label_value(name) + "\"", &data, std::nullopt};
        if (data.store && data.store->capabilities().cheap_entry_count) {
            try {
                r.entries = data.store->entry_count(data.stored_name);
            } catch (const std::exception& e) {
                log(log_level::debug, name + ": metrics export cannot count entries: " + e.what());
            }
        }
        rows.push_back(std::move(r));
    }
    std::string out;
    if (rows.empty()) return out;
    for (const auto& family : counter_families) {
        family_header(out, family.name, "counter", family.help);
        for (const auto& r : rows) sample(out, family.name, r.label, std::to_string(r.data->counts[family.what]));
    }
    family_header(out, "cachier_call_duration_seconds", "histogram",
                  "Latency of the sampled cached calls (metrics_sampling_rate), in seconds.");
    for (const auto& r : rows) {
        const auto cumulative = cumulative_buckets(r.data->counts);
        std::uint64_t total = 0;
        for (const auto n : r.data->counts.latency_buckets) total += n;
        for (std::size_t i = 0; i < latency_bounds.size(); ++i)
            sample(out, "cachier_call_duration_seconds_bucket", r.label + ",le=\"" + number(latency_bounds[i]) + "\"",
                   std::to_string(cumulative[i]));
        sample(out, "cachier_call_duration_seconds_bucket", r.label + ",le=\"+Inf\"", std::to_string(total));
        sample(out, "cachier_call_duration_seconds_sum", r.label,
               number(static_cast<double>(r.data->counts.latency_sum_ns) / 1e9));
        sample(out, "cachier_call_duration_seconds_count", r.label, std::to_string(total));
    }
    bool any_entries = false;
    for (const auto& r : rows) any_entries = any_entries || r.entries.has_value();
    if (any_entries) {
        family_header(out, "cachier_entries", "gauge", "Entries stored, where the backend counts them cheaply.");
        for (const auto& r : rows)
            if (r.entries) sample(out, "cachier_entries", r.label, std::to_string(*r.entries));
    }
    return out;
}

}  // namespace cachier
