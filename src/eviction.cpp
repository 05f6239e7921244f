// Least-recently-used eviction, of one function's values or of a whole storage's: one listing, the
// values ranked by how long they have been idle, the idlest removed in batches until the values
// left are within the limits.

#include <algorithm>
#include <vector>

#include <cachier/backend.hpp>

namespace cachier {

namespace {

struct ranked_entry {
    std::string function;
    std::string key;
    std::uint64_t size = 0;
    std::chrono::nanoseconds idle{};  // since the last use, or since the store where none is recorded
    std::chrono::nanoseconds age{};
};

constexpr std::size_t removal_batch = 500;

/// Adds the values of `function` to `entries` and to the report's totals.
void collect(backend& store, std::string_view function, std::vector<ranked_entry>& entries, eviction_report& report) {
    store.list_entries(function, [&](const entry_info& e) {
        if (!e.has_value) return true;
        entries.push_back({std::string(function), e.key, e.size, std::min(e.since_last_use.value_or(e.age), e.age), e.age});
        ++report.entries_left;
        report.bytes_left += e.size;
        return true;
    });
}

/// Removes the idlest of `entries` until the report's totals are within `limits`.
void remove_idlest(backend& store, std::vector<ranked_entry>& entries, const entry_limits& limits,
                   eviction_report& report) {
    const auto over = [&] {
        return (limits.max_entries && report.entries_left > *limits.max_entries) ||
               (limits.max_bytes && report.bytes_left > *limits.max_bytes);
    };
    if (!over()) return;
    // Idlest first; among equally idle values, the oldest.
    std::sort(entries.begin(), entries.end(), [](const ranked_entry& a, const ranked_entry& b) {
        return a.idle != b.idle ? a.idle > b.idle : a.age > b.age;
    });
    std::size_t chosen = 0;
    while (chosen < entries.size() && over()) {
        report.entries_left -= 1;
        report.bytes_left -= entries[chosen].size;
        report.removed_bytes += entries[chosen].size;
        ++chosen;
    }
    // Removed a function at a time, in batches. A value another process removed meanwhile is not
    // counted, but the storage shrank by it all the same.
    std::stable_sort(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(chosen),
                     [](const ranked_entry& a, const ranked_entry& b) { return a.function < b.function; });
    std::vector<std::string> batch;
    for (std::size_t i = 0; i < chosen; ++i) {
        batch.push_back(std::move(entries[i].key));
        const bool last_of_function = i + 1 == chosen || entries[i + 1].function != entries[i].function;
        if (batch.size() == removal_batch || last_of_function) {
            report.removed += store.remove_entries(entries[i].function, batch);
            batch.clear();
        }
    }
}

}  // namespace

eviction_report evict_least_recently_used(backend& store, std::string_view function, const entry_limits& limits) {
    std::vector<ranked_entry> entries;
    eviction_report report;
    collect(store, function, entries, report);
    remove_idlest(store, entries, limits, report);
    return report;
}

eviction_report evict_least_recently_used(backend& store, const entry_limits& limits) {
    std::vector<std::string> functions;
    store.summaries([&](const function_info& f) {
        functions.push_back(f.name);
        return true;
    });
    std::vector<ranked_entry> entries;
    eviction_report report;
    for (const auto& function : functions) collect(store, function, entries, report);
    remove_idlest(store, entries, limits, report);
    return report;
}

}  // namespace cachier
