// Bounded caches. A hit records its entry's use in this process's table and, at most once per
// use_interval per entry, queues it for a batched touch() on the thread pool: a hit never writes to
// the storage itself. Every 1/50 of a limit stored, a pass in the background summarizes the
// function and, once it foresees a limit passed before its next pass (by the growth it has seen
// between passes, which counts the stores of every process), ranks the values and removes the least
// recently used down to 90% of each limit: most passes cost a summary only, and the limits hold
// however many processes store.

#include <algorithm>
#include <limits>
#include <optional>

#include <cachier/backend.hpp>

#include "bounding.hpp"
#include "change_hub.hpp"
#include "function_state.hpp"
#include "log.hpp"
#include "thread_pool.hpp"

namespace cachier::detail {

namespace {

using steady = std::chrono::steady_clock;
constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();
// A table this large is dropped and started again: forgetting when entries were touched only
// touches them once more.
constexpr std::size_t max_remembered_uses = 1U << 16;

/// Stores (or bytes) after which a pass runs: 1/50 of the limit, so that a pass runs long before
/// the limit is reached again.
std::uint64_t pass_step(std::uint64_t limit) { return limit == unlimited ? unlimited : std::max<std::uint64_t>(1, limit / 50); }

/// What a pass leaves: 90% of the limit, so that the stores of other processes made while it ran
/// have room below it.
std::optional<std::uint64_t> low_water(std::uint64_t limit) {
    if (limit == unlimited) return std::nullopt;
    return limit - limit / 10;
}

bool records_uses_through_touch(const resolved_settings& s) {
    const auto& caps = s.backend->capabilities();
    return caps.records_last_use && !caps.reads_record_use;
}

std::uint64_t minus(std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; }

std::uint64_t plus(std::uint64_t a, std::uint64_t b) { return a > unlimited - b ? unlimited : a + b; }

/// Whether a pass that found `now` and foresees `next` must evict: `limit` would be passed before the
/// next pass ends, the growth foreseen twice (until the next pass, and while it ranks and removes).
/// Counted up to a tenth of the limit, so a pass never evicts while it finds less than the 90% it
/// leaves.
bool must_evict(std::uint64_t now, std::uint64_t next, std::uint64_t limit) {
    if (limit == unlimited) return false;
    const std::uint64_t growth = minus(next, now);
    return now > limit - std::min(plus(growth, growth), limit / 10);
}

bool must_evict(growth_forecast& forecast, const stored_totals& now, std::uint64_t max_entries,
                std::uint64_t max_bytes) {
    const stored_totals next = forecast.next(now);
    return must_evict(now.entries, next.entries, max_entries) || must_evict(now.bytes, next.bytes, max_bytes);
}

void run_function_pass(const std::shared_ptr<function_state>& fn, const resolved_settings& s,
                       growth_forecast& forecast) {
    try {
        // Most passes find the function well within its limits: a summary (one cheap request on
        // most storage) says so without ranking every value.
        const function_info now = s.backend->summary(s.stored_name);
        if (!must_evict(forecast, {now.entries, now.bytes}, s.max_entries, s.max_bytes)) return;
        const auto report =
            evict_least_recently_used(*s.backend, s.stored_name, {low_water(s.max_entries), low_water(s.max_bytes)});
        forecast.removed({report.removed, report.removed_bytes});
        if (report.removed > 0) {
            if (s.enable_metrics) fn->metrics.add(counter::evictions, report.removed);
            if (s.verbose)
                log(log_level::debug, fn->name + ": evicted " + std::to_string(report.removed) + " entries, " +
                                          std::to_string(report.entries_left) + " left");
        }
    } catch (const std::exception& e) {
        if (s.enable_metrics) fn->metrics.add(counter::backend_errors);
        log(log_level::warning, fn->name + ": eviction failed: " + e.what());
    }
}

/// A pass over every function of `store` together, against its store limits.
void run_store_pass(backend& store, growth_forecast& forecast) {
    const entry_limits limits = store.store_limits();
    try {
        stored_totals now;
        store.summaries([&](const function_info& f) {
            now.entries += f.entries;
            now.bytes += f.bytes;
            return true;
        });
        if (!must_evict(forecast, now, limits.max_entries.value_or(unlimited), limits.max_bytes.value_or(unlimited)))
            return;
        entry_limits target;
        if (limits.max_entries) target.max_entries = low_water(*limits.max_entries);
        if (limits.max_bytes) target.max_bytes = low_water(*limits.max_bytes);
        const auto report = evict_least_recently_used(store, target);
        forecast.removed({report.removed, report.removed_bytes});
        if (report.removed > 0)
            log(log_level::debug, std::string(store.kind()) + " backend: evicted " + std::to_string(report.removed) +
                                      " entries to keep its store limits, " + std::to_string(report.entries_left) +
                                      " left");
    } catch (const std::exception& e) {
        log(log_level::warning, std::string(store.kind()) + " backend: eviction failed: " + e.what());
    }
}

}  // namespace

void note_use(function_state& fn, const resolved_settings& settings, std::string_view key) {
    if (!records_uses_through_touch(settings)) return;
    bounding_state& b = fn.bounds;
    const auto now = steady::now().time_since_epoch().count();
    const auto interval = std::chrono::duration_cast<steady::duration>(bounding_state::use_interval).count();
    {
        const std::lock_guard lock(b.uses_mutex_);
        const auto it = b.touched_.find(key);
        if (it != b.touched_.end()) {
            if (now - it->second < interval) return;
            it->second = now;
        } else {
            if (b.touched_.size() >= max_remembered_uses) b.touched_.clear();
            b.touched_.emplace(std::string(key), now);
        }
        b.to_touch_.emplace_back(&settings, std::string(key));
        if (std::exchange(b.touch_queued_, true)) return;
    }
    thread_pool::instance().submit([self = fn.shared_from_this()] {
        bounding_state& state = self->bounds;
        std::vector<std::pair<const resolved_settings*, std::string>> batch;
        {
            const std::lock_guard lock(state.uses_mutex_);
            batch.swap(state.to_touch_);
            state.touch_queued_ = false;
        }
        // One touch per settings snapshot (backend and version) in the batch.
        std::stable_sort(batch.begin(), batch.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (auto first = batch.begin(); first != batch.end();) {
            const resolved_settings* s = first->first;
            const auto last = std::find_if(first, batch.end(), [&](const auto& item) { return item.first != s; });
            std::vector<std::string> keys;
            for (auto it = first; it != last; ++it) keys.push_back(std::move(it->second));
            try {
                s->backend->touch(s->stored_name, keys);
            } catch (const std::exception& e) {
                if (s->enable_metrics) self->metrics.add(counter::backend_errors);
                log(log_level::warning, self->name + ": " + e.what());
            }
            first = last;
        }
    });
}

stored_totals growth_forecast::next(stored_totals now) noexcept {
    // An eighth (rounded up) of the growth remembered is forgotten each pass: a burst long past
    // stops counting.
    const auto decayed = [](std::uint64_t growth) { return growth - (growth / 8 + (growth % 8 != 0 ? 1 : 0)); };
    if (last_) {
        growth_.entries = std::max(minus(now.entries, last_->entries), decayed(growth_.entries));
        growth_.bytes = std::max(minus(now.bytes, last_->bytes), decayed(growth_.bytes));
    }
    last_ = now;
    return {plus(now.entries, growth_.entries), plus(now.bytes, growth_.bytes)};
}

void growth_forecast::removed(stored_totals removed) noexcept {
    if (!last_) return;
    last_->entries = minus(last_->entries, removed.entries);
    last_->bytes = minus(last_->bytes, removed.bytes);
}

bool pass_schedule::store_made(std::uint64_t bytes, std::uint64_t entry_step, std::uint64_t byte_step) {
    const std::uint64_t stores = stores_since_pass_.fetch_add(1, std::memory_order_relaxed) + 1;
    const std::uint64_t stored = bytes_since_pass_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    // The first store of the process looks too: the storage may be over the limits already.
    const bool due = stores >= entry_step || stored >= byte_step || !passed_once_.exchange(true);
    if (!due) return false;
    std::unique_lock lock(mutex_);
    if (running_) {
        // A step's worth stored since the running pass started: wait for it (a store, never a
        // hit), so that storage slower than the stores cannot outgrow the limits.
        if (thread_pool::on_worker()) return false;
        done_.wait_for(lock, std::chrono::seconds(5), [&] { return !running_; });
        if (running_) return false;
    }
    running_ = true;
    stores_since_pass_.store(0, std::memory_order_relaxed);
    bytes_since_pass_.store(0, std::memory_order_relaxed);
    return true;
}

bool pass_schedule::pass_ended(std::uint64_t entry_step, std::uint64_t byte_step) {
    const std::lock_guard lock(mutex_);
    // Stores made during the pass that reach a step call for the next one now, so that the limits
    // hold when the stores stop.
    if (stores_since_pass_.load(std::memory_order_relaxed) < entry_step &&
        bytes_since_pass_.load(std::memory_order_relaxed) < byte_step) {
        running_ = false;
        done_.notify_all();
        return false;
    }
    stores_since_pass_.store(0, std::memory_order_relaxed);
    bytes_since_pass_.store(0, std::memory_order_relaxed);
    return true;
}

void note_store(function_state& fn, const resolved_settings& settings, std::string_view key, std::uint64_t bytes) {
    bounding_state& b = fn.bounds;
    if (records_uses_through_touch(settings)) {
        // A store is a use the storage has recorded: no touch for the next interval.
        const auto now = steady::now().time_since_epoch().count();
        const std::lock_guard lock(b.uses_mutex_);
        if (b.touched_.size() >= max_remembered_uses) b.touched_.clear();
        b.touched_.insert_or_assign(std::string(key), now);
    }
    if (settings.bounded()) {
        const std::uint64_t entry_step = pass_step(settings.max_entries);
        const std::uint64_t byte_step = pass_step(settings.max_bytes);
        if (b.passes_.store_made(bytes, entry_step, byte_step))
            thread_pool::instance().submit([self = fn.shared_from_this(), s = &settings, entry_step, byte_step] {
                do
                    run_function_pass(self, *s, self->bounds.passes_.forecast);
                while (self->bounds.passes_.pass_ended(entry_step, byte_step));
            });
    }
    const entry_limits store_limits = settings.backend->store_limits();
    if (!store_limits.max_entries && !store_limits.max_bytes) return;
    const std::uint64_t entry_step = pass_step(store_limits.max_entries.value_or(unlimited));
    const std::uint64_t byte_step = pass_step(store_limits.max_bytes.value_or(unlimited));
    if (settings.hub->store_passes.store_made(bytes, entry_step, byte_step))
        thread_pool::instance().submit([store = settings.backend, hub = settings.hub, entry_step, byte_step] {
            do
                run_store_pass(*store, hub->store_passes.forecast);
            while (hub->store_passes.pass_ended(entry_step, byte_step));
        });
}

}  // namespace cachier::detail
