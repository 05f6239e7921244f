// Least-recently-used eviction of one function's entries: one listing, the values ranked by how
// long they have been idle, the idlest removed in batches until the function is within its limits.

#include <algorithm>
#include <vector>

#include <cachier/backend.hpp>

namespace cachier {

namespace {

struct ranked_entry {
    std::string key;
    std::uint64_t size = 0;
    std::chrono::nanoseconds idle{};  // since the last use, or since the store where none is recorded
    std::chrono::nanoseconds age{};
};

constexpr std::size_t removal_batch = 500;

}  // namespace

eviction_report evict_least_recently_used(backend& store, std::string_view function, const entry_limits& limits) {
    std::vector<ranked_entry> entries;
    eviction_report report;
    store.list_entries(function, [&](const entry_info& e) {
        if (!e.has_value) return true;
        entries.push_back({e.key, e.size, std::min(e.since_last_use.value_or(e.age), e.age), e.age});
        report.bytes_left += e.size;
        return true;
    });
    report.entries_left = entries.size();
    const auto over = [&] {
        return (limits.max_entries && report.entries_left > *limits.max_entries) ||
               (limits.max_bytes && report.bytes_left > *limits.max_bytes);
    };
    if (!over()) return report;
    // Idlest first; among equally idle entries, the oldest.
    std::sort(entries.begin(), entries.end(), [](const ranked_entry& a, const ranked_entry& b) {
        return a.idle != b.idle ? a.idle > b.idle : a.age > b.age;
    });
    std::vector<std::string> batch;
    std::uint64_t batch_bytes = 0;
    const auto flush = [&] {
        // A value another process removed meanwhile is not counted, but the function shrank by it.
        report.removed += store.remove_entries(function, batch);
        report.removed_bytes += batch_bytes;
        batch.clear();
        batch_bytes = 0;
    };
    for (auto& e : entries) {
        if (!over()) break;
        report.entries_left -= 1;
        report.bytes_left -= e.size;
        batch_bytes += e.size;
        batch.push_back(std::move(e.key));
        if (batch.size() == removal_batch) flush();
    }
    if (!batch.empty()) flush();
    return report;
}

}  // namespace cachier
