// The one call state machine shared by every backend.

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <unistd.h>

#include "claim_keeper.hpp"
#include "digest.hpp"
#include "function_state.hpp"
#include "log.hpp"
#include "thread_pool.hpp"

namespace cachier::detail {

using steady = std::chrono::steady_clock;

function_state::function_state(std::string name_, options own_)
    : name(std::move(name_)), key_prefix(detail::key_prefix(name)), own(std::move(own_)) {
    if (name.empty()) throw config_error("a cached function needs a non-empty name");
    settings();  // validates the options and resolves the backend now, where errors are expected
}

const resolved_settings& function_state::settings() {
    const resolved_settings* current = current_.load(std::memory_order_acquire);
    if (current != nullptr && current->global_version == global_params_version()) return *current;
    const std::lock_guard lock(resolve_mutex_);
    current = current_.load(std::memory_order_acquire);
    if (current != nullptr && current->global_version == global_params_version()) return *current;
    snapshots_.push_back(std::make_unique<const resolved_settings>(resolve_settings(own)));
    current_.store(snapshots_.back().get(), std::memory_order_release);
    return *snapshots_.back();
}

namespace {

claim_token new_claim_token() {
    // host:pid:random:sequence — unique across processes and machines, never reused in a process.
    static const std::string prefix = [] {
        char host[256] = {};
        if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
        std::random_device device;
        const auto nonce = (static_cast<std::uint64_t>(device()) << 32) ^ device();
        return std::string(host) + ":" + std::to_string(getpid()) + ":" + std::to_string(nonce) + ":";
    }();
    static std::atomic<std::uint64_t> sequence{0};
    return prefix + std::to_string(sequence.fetch_add(1, std::memory_order_relaxed));
}

/// Everything one cached call (or one background refresh) needs to reach its entry.
struct call_context {
    function_state& fn;
    const resolved_settings& settings;
    key_ref ref;
    bool verbose;

    [[nodiscard]] backend& store() const { return *settings.backend; }
    [[nodiscard]] bool metrics_on() const { return settings.enable_metrics; }
    void count(counter c) const {
        if (metrics_on()) fn.metrics.add(c);
    }

    void say(std::string_view what) const {
        if (!verbose) return;
        const std::string shown = ref.key.size() == 64 ? std::string(ref.key) : std::string(sha256_hex(ref.key).view());
        log(log_level::debug, fn.name + " [" + shown.substr(0, 12) + "]: " + std::string(what));
    }

    void backend_failed(std::string_view operation, const std::exception& e) const {
        count(counter::backend_errors);
        log(log_level::warning, std::string(store().kind()) + " backend could not " + std::string(operation) +
                                    " for " + fn.name + ": " + e.what());
    }

    void release(const claim_token* held) const {
        if (held == nullptr) return;
        try {
            store().release_claim(ref, *held);
        } catch (const std::exception& e) {
            backend_failed("release a claim", e);
        }
    }

    /// Runs `compute`, stores what it returns when the settings allow, and releases `held` whatever
    /// happens. Exceptions of the function reach the caller with nothing stored and no claim left.
    template <class Compute>
    void compute_and_store(Compute&& compute, const claim_token* held) const {
        computed_value value;
        {
            std::optional<kept_claim> renewal;
            if (held != nullptr) renewal.emplace(settings.backend, ref, *held, settings.claim_lease);
            try {
                value = compute();
            } catch (...) {
                renewal.reset();
                say("the function threw: nothing stored");
                release(held);
                store().notify_change(ref);
                throw;
            }
        }
        count(counter::recalculations);
        bool keep = true;
        if (!value.bytes) {
            keep = false;
            log(log_level::error, fn.name + ": the result cannot be encoded (" + value.encode_error +
                                      "); it is returned but not stored");
        } else if (value.is_none && !settings.allow_none) {
            keep = false;
            say("empty result and allow_none is off: not stored");
        } else if (value.bytes->size() > settings.entry_size_limit) {
            keep = false;
            count(counter::size_limit_rejections);
            say("result of " + std::to_string(value.bytes->size()) + " bytes is over entry_size_limit: not stored");
        }
        if (keep) {
            try {
                store().store(ref, *value.bytes, held);
                say("stored");
            } catch (const std::exception& e) {
                backend_failed("store a value", e);
                release(held);
            }
        } else {
            release(held);
        }
        store().notify_change(ref);
    }
};

enum class lookup { fresh, stale, absent, failed };

lookup look_up(const call_context& c, call_site& site, std::chrono::nanoseconds max_age) {
    std::optional<stored_entry> entry;
    try {
        entry = c.store().load(c.ref);
    } catch (const std::exception& e) {
        c.backend_failed("read an entry", e);
        return lookup::failed;
    }
    if (!entry) return lookup::absent;
    if (!site.adopt(entry->value)) {
        log(log_level::warning, c.fn.name + ": stored value cannot be decoded (corrupt, or the type changed); "
                                            "recomputing it");
        return lookup::absent;
    }
    const bool stale = max_age < std::chrono::nanoseconds(0) || entry->age > max_age;
    return stale ? lookup::stale : lookup::fresh;
}

void schedule_refresh(const call_context& c, std::function<computed_value()> job) {
    function_state& fn = c.fn;
    std::string key(c.ref.key);
    {
        const std::lock_guard lock(fn.refresh_mutex);
        if (!fn.refreshing.insert(key).second) {
            c.say("a background refresh is already queued");
            return;
        }
    }
    c.say("stale: returning the stored value and refreshing in the background");
    thread_pool::instance().submit([self = fn.shared_from_this(), settings = &c.settings, key = std::move(key),
                                    job = std::move(job), verbose = c.verbose] {
        const call_context bg{*self, *settings, key_ref{self->name, key}, verbose};
        struct unmark {
            function_state& fn;
            const std::string& key;
            ~unmark() {
                const std::lock_guard lock(fn.refresh_mutex);
                fn.refreshing.erase(key);
            }
        } done{*self, key};
        const claim_token token = new_claim_token();
        bool claimed = false;
        try {
            claimed = bg.store().try_claim(bg.ref, token, settings->claim_lease);
        } catch (const std::exception& e) {
            bg.backend_failed("claim an entry", e);
            return;
        }
        if (!claimed) {
            bg.say("another caller is already refreshing");
            return;
        }
        bg.count(counter::background_refreshes);
        bg.compute_and_store(job, &token);
    });
}

void maybe_clean_up(const call_context& c) {
    const resolved_settings& s = c.settings;
    if (!s.cleanup_stale || s.stale_after == std::chrono::nanoseconds::max()) return;
    const auto now = steady::now().time_since_epoch().count();
    auto last = c.fn.last_cleanup.load(std::memory_order_relaxed);
    const auto interval = std::chrono::duration_cast<steady::duration>(s.cleanup_interval).count();
    if (last != 0 && now - last < interval) return;
    if (!c.fn.last_cleanup.compare_exchange_strong(last, now)) return;
    thread_pool::instance().submit([self = c.fn.shared_from_this(), backend = s.backend, max_age = s.stale_after] {
        try {
            const auto removed = backend->remove_older_than(self->name, max_age);
            if (removed > 0)
                log(log_level::debug, self->name + ": removed " + std::to_string(removed) + " stale entries");
        } catch (const std::exception& e) {
            log(log_level::warning, self->name + ": stale cleanup failed: " + e.what());
        }
    });
}

void overwrite(const call_context& c, call_site& site) {
    c.say("overwrite_cache: computing");
    const claim_token token = new_claim_token();
    bool claimed = false;
    try {
        claimed = c.store().try_claim(c.ref, token, c.settings.claim_lease);
    } catch (const std::exception& e) {
        c.backend_failed("claim an entry", e);
    }
    c.compute_and_store([&] { return site.compute(); }, claimed ? &token : nullptr);
}

/// Finds a usable value or computes one, waiting for another caller's computation when there is one.
void serve(const call_context& c, call_site& site, std::chrono::nanoseconds max_age) {
    backend& store = c.store();
    const auto timeout = c.settings.wait_for_calc_timeout;
    const auto deadline = timeout > std::chrono::nanoseconds(0) ? steady::now() + timeout : steady::time_point::max();
    auto slice = std::chrono::milliseconds(1);
    bool first_look = true;
    bool waited = false;
    for (;;) {
        const std::uint64_t generation = store.change_generation(c.ref);
        const lookup found = look_up(c, site, max_age);
        if (found == lookup::failed) {
            c.compute_and_store([&] { return site.compute(); }, nullptr);
            return;
        }
        if (first_look) {
            c.count(found == lookup::fresh ? counter::hits : found == lookup::stale ? counter::stale_hits : counter::misses);
        } else if (found == lookup::fresh) {
            c.count(counter::hits);
        }
        if (found == lookup::fresh) {
            c.say(waited ? "value arrived while waiting" : "fresh hit");
            return;
        }
        if (found == lookup::stale && c.settings.next_time) {
            if (auto job = site.detach()) {
                schedule_refresh(c, std::move(job));
                return;
            }
        }
        first_look = false;

        const claim_token token = new_claim_token();
        bool claimed = false;
        try {
            claimed = store.try_claim(c.ref, token, c.settings.claim_lease);
        } catch (const std::exception& e) {
            c.backend_failed("claim an entry", e);
            c.compute_and_store([&] { return site.compute(); }, nullptr);
            return;
        }
        if (claimed) {
            // Another caller may have stored the value between our look and our claim.
            if (look_up(c, site, max_age) == lookup::fresh) {
                c.release(&token);
                c.say("value stored by another caller just before our claim");
                return;
            }
            c.say(found == lookup::stale ? "stale: recomputing" : "miss: computing");
            c.compute_and_store([&] { return site.compute(); }, &token);
            return;
        }
        if (steady::now() >= deadline) {
            c.count(counter::wait_timeouts);
            c.say("waited past wait_for_calc_timeout: computing here");
            c.compute_and_store([&] { return site.compute(); }, nullptr);
            return;
        }
        if (!waited) {
            waited = true;
            c.count(counter::waits);
            c.say("another caller is computing: waiting");
        }
        store.wait_for_change(c.ref, generation, std::min(deadline, steady::now() + slice));
        slice = std::min(slice * 2, store.max_poll_interval());
    }
}

/// The key of one entry in the form its backend wants: a digest, or the encoded arguments.
class entry_key {
public:
    entry_key(const function_state& fn, const backend& store, std::string_view key_bytes)
        : function_(fn.name), raw_(key_bytes), digested_(store.digest_keys()) {
        if (digested_) digest_ = digest_key(fn.key_prefix, key_bytes);
    }
    [[nodiscard]] key_ref ref() const noexcept { return {function_, digested_ ? digest_.view() : raw_}; }

private:
    std::string_view function_;
    std::string_view raw_;
    bool digested_;
    hex_key digest_;
};

struct latency_timer {
    function_state* fn = nullptr;
    steady::time_point started;
    ~latency_timer() {
        if (fn != nullptr) fn->metrics.record_latency(steady::now() - started);
    }
};

}  // namespace

std::shared_ptr<function_state> make_function_state(std::string name, options opts) {
    return std::make_shared<function_state>(std::move(name), std::move(opts));
}

void run_call(function_state& fn, const call_options& call, std::string_view key_bytes, call_site& site) {
    if (!caching_enabled() || call.skip_cache) {
        site.compute();
        return;
    }
    const resolved_settings& settings = fn.settings();
    latency_timer timer;
    if (settings.enable_metrics) {
        fn.metrics.add(counter::calls);
        if (metrics_recorder::sample(settings.metrics_sampling_rate)) {
            timer.fn = &fn;
            timer.started = steady::now();
        }
    }
    const entry_key key(fn, *settings.backend, key_bytes);
    const call_context c{fn, settings, key.ref(), call.verbose || settings.verbose};
    maybe_clean_up(c);
    if (call.overwrite_cache) {
        overwrite(c, site);
        return;
    }
    auto max_age = settings.stale_after;
    if (call.max_age) max_age = std::min(max_age, call.max_age->get());
    serve(c, site, max_age);
}

void precache(function_state& fn, std::string_view key_bytes, std::string value_bytes) {
    const resolved_settings& settings = fn.settings();
    const entry_key key(fn, *settings.backend, key_bytes);
    const key_ref ref = key.ref();
    settings.backend->store(ref, value_bytes, nullptr);
    settings.backend->notify_change(ref);
}

void clear_cache(function_state& fn) { fn.settings().backend->clear(fn.name); }

void clear_being_calculated(function_state& fn) { fn.settings().backend->clear_claims(fn.name); }

std::optional<std::filesystem::path> cache_dpath(function_state& fn) {
    return fn.settings().backend->directory(fn.name);
}

metrics_snapshot read_metrics(function_state& fn) {
    metrics_snapshot snapshot = fn.metrics.snapshot();
    if (fn.settings().enable_metrics) {
        try {
            snapshot.entry_count = fn.settings().backend->entry_count(fn.name);
        } catch (const std::exception& e) {
            log(log_level::warning, fn.name + ": cannot count entries: " + e.what());
        }
    }
    return snapshot;
}

const std::string& function_name(const function_state& fn) noexcept { return fn.name; }

}  // namespace cachier::detail
