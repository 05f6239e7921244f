// The one call state machine shared by every backend.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <unistd.h>

#include "change_hub.hpp"
#include "claim_keeper.hpp"
#include "compression.hpp"
#include "digest.hpp"
#include "envelope.hpp"
#include "function_registry.hpp"
#include "function_state.hpp"
#include "log.hpp"
#include "random_seed.hpp"
#include "read_limit.hpp"
#include "split_reader.hpp"
#include "thread_pool.hpp"
#include "value_buffers.hpp"
#include "value_tier.hpp"

namespace cachier::detail {

using steady = std::chrono::steady_clock;

static_assert(value_room == envelope::size, "the typed layer leaves room for the envelope");

/// A read's value: what the backend returned, and its decompressed bytes when it was stored
/// compressed. Gives their buffers back for the thread's next read once the value is decoded.
struct read_value {
    read_result found;
    std::string decompressed;
    std::string body;  // a split read's bytes of the result (split_reader.hpp), until adopted
    bool split = false;

    read_value() = default;
    read_value(const read_value&) = delete;
    read_value& operator=(const read_value&) = delete;
    ~read_value() {
        if (!decompressed.empty()) recycle_value_buffer(std::move(decompressed));
        else if (found.entry) recycle_value_buffer(std::move(found.entry->value));
    }
};

namespace {
const std::string& claim_token_prefix();
/// The values an in-process tier keeps at most (the backend keeps the others).
constexpr std::size_t tier_max_entries = 1'000'000;
}  // namespace

function_state::function_state(std::string name_, options own_)
    : name(std::move(name_)), own(std::move(own_)) {
    if (name.empty()) throw config_error("a cached function needs a non-empty name");
    settings();  // validates the options and resolves the backend now, where errors are expected
    (void)claim_token_prefix();  // once per process, here rather than in the first call
    register_function(*this);
}

function_state::~function_state() {
    unregister_function(*this);
    for (const auto& snapshot : snapshots_)
        if (snapshot->tier) snapshot->backend->remove_change_sink(snapshot->tier.get());
    for (const auto& [store, stored_name] : watching_) store->unwatch(stored_name);
}

const resolved_settings& function_state::settings() {
    const std::uint64_t version = global_params_version();
    if (current_version_.load(std::memory_order_acquire) == version) return *current_.load(std::memory_order_acquire);
    const std::lock_guard lock(resolve_mutex_);
    if (current_version_.load(std::memory_order_acquire) == version) return *current_.load(std::memory_order_acquire);
    auto fresh = std::make_unique<resolved_settings>(resolve_settings(own));
    fresh->stored_name = stored_function_name(name, *fresh->values.version);
    fresh->key_prefix = key_prefix(fresh->stored_name);
    const resolved_settings* chosen = nullptr;
    for (const auto& kept : snapshots_)
        if (kept->same_as(*fresh)) chosen = kept.get();
    if (chosen == nullptr) {
        const backend_capabilities& caps = fresh->backend->capabilities();
        if (caps.keeps_values_in_process && !fresh->evicts()) {
            // In-process storage, or a tier in front of a shared store: the function keeps decoded
            // values in front of it, and drops them as it hears of changes.
            fresh->tier = std::make_shared<value_tier>(fresh->stored_name, tier_max_entries, caps.in_process_max_age,
                                                       caps.digest_keys);
            fresh->backend->add_change_sink(fresh->tier);
        }
        snapshots_.push_back(std::move(fresh));
        chosen = snapshots_.back().get();
    }
    current_.store(chosen, std::memory_order_release);
    current_version_.store(version, std::memory_order_release);
    return *chosen;
}

void function_state::watch(const resolved_settings& settings) {
    const std::lock_guard lock(watch_mutex_);
    for (const auto& [store, stored_name] : watching_)
        if (store == settings.backend && stored_name == settings.stored_name) return;
    settings.backend->watch(settings.stored_name);
    watching_.emplace_back(settings.backend, settings.stored_name);
}

namespace {

/// host:pid:random: — what makes claim tokens unique across processes and machines.
const std::string& claim_token_prefix() {
    static const std::string prefix = [] {
        char host[256] = {};
        if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
        const std::uint64_t nonce = random_seed();
        return std::string(host) + ":" + std::to_string(getpid()) + ":" + std::to_string(nonce) + ":";
    }();
    return prefix;
}

/// host:pid:random:sequence — never reused in a process.
claim_token new_claim_token() {
    static std::atomic<std::uint64_t> sequence{0};
    return claim_token_prefix() + std::to_string(sequence.fetch_add(1, std::memory_order_relaxed));
}

/// Everything one cached call (or one background refresh) needs to reach its entry.
struct call_context {
    function_state& fn;
    const resolved_settings& settings;
    key_ref ref;
    bool verbose;
    /// The entry's identity in its envelope; only used when the backend stores outside the process.
    std::uint64_t identity = 0;

    [[nodiscard]] backend& store() const { return *settings.backend; }
    [[nodiscard]] const backend_capabilities& caps() const { return settings.backend->capabilities(); }
    void count(counter c) const {
        if (settings.enable_metrics) fn.metrics.add(c);
    }

    void say(std::string_view what) const {
        if (!verbose) return;
        const std::string shown = ref.key.size() == 64 ? std::string(ref.key) : std::string(sha256_hex(ref.key).view());
        log(log_level::debug, fn.name + " [" + shown.substr(0, 12) + "]: " + std::string(what));
    }

    void backend_failed(const std::exception& e) const {
        count(counter::backend_errors);
        log(log_level::warning, fn.name + ": " + e.what());
    }

    [[nodiscard]] bool sealed() const { return caps().stores_outside_process; }

    /// The value to store from a computed value (value_room free bytes, then the encoding): sealed
    /// in its envelope, compressed first when the settings ask and it shrinks (`bytes` then holds
    /// the compressed form), or, in-process, the encoding after the room.
    /// `tail`, the rest of the encoding stored apart, stays apart only when the value is sealed as
    /// it is; otherwise it is appended to `bytes` and emptied.
    [[nodiscard]] std::string_view stored_form(std::string& bytes, std::string_view& tail) const {
        const bool compressing =
            sealed() && settings.compression_level != 0 &&
            bytes.size() - value_room + tail.size() >= settings.compression_min_size;
        if (!tail.empty() && (!sealed() || compressing)) {
            bytes.append(tail);
            tail = {};
        }
        if (!sealed()) return std::string_view(bytes).substr(value_room);
        envelope::coding how = envelope::coding::plain;
        if (compressing) {
            if (auto compressed = compress(std::string_view(bytes).substr(value_room), settings.compression_level,
                                           value_room)) {
                recycle_value_buffer(std::move(bytes));
                bytes = std::move(*compressed);
                how = envelope::coding::zstd;
            }
        }
        envelope::seal(bytes, identity, how, tail);
        return bytes;
    }

    /// The most stored bytes a read may take: read_size_limit and the envelope around the value.
    [[nodiscard]] std::uint64_t stored_read_limit() const noexcept {
        const std::uint64_t room = sealed() ? envelope::size : 0;
        return settings.read_size_limit > std::numeric_limits<std::uint64_t>::max() - room
                   ? std::numeric_limits<std::uint64_t>::max()
                   : settings.read_size_limit + room;
    }

    /// The size an entry_size_limit compares: the stored bytes without the envelope.
    [[nodiscard]] std::uint64_t limited_size(std::string_view stored) const {
        return sealed() ? stored.size() - envelope::size : stored.size();
    }

    /// The encoded value inside a read's stored bytes (decompressed into `read.decompressed` when
    /// it was stored compressed), or empty (reported) when they fail the envelope or decompression.
    [[nodiscard]] std::optional<std::string_view> opened(read_value& read) const {
        const std::string_view stored = read.found.entry->value;
        if (!sealed()) return stored;
        if (stored.size() > stored_read_limit()) {
            refused("it is larger than read_size_limit");
            return std::nullopt;
        }
        envelope::problem why{};
        envelope::coding how{};
        auto value = envelope::open(stored, identity, why, how);
        if (!value) {
            refused(envelope::describe(why));
            return value;
        }
        if (how == envelope::coding::plain) return value;
        switch (decompress(*value, settings.read_size_limit, read.decompressed)) {
            case decompress_problem::none: break;
            case decompress_problem::too_large:
                refused("it would decompress to more than read_size_limit");
                return std::nullopt;
            case decompress_problem::damaged:
                refused("its compressed value is damaged");
                return std::nullopt;
        }
        recycle_value_buffer(std::move(read.found.entry->value));  // the compressed bytes are done with
        return std::string_view(read.decompressed);
    }

    /// A split read's value (read.found's value: the envelope and the result's prefix; read.body:
    /// the result's bytes), checked, its bytes handed to `site`: true when taken, false when refused
    /// (reported); empty when the value is compressed and must be read as one.
    [[nodiscard]] std::optional<bool> adopt_split(read_value& read, call_site& site) const {
        if (read.found.entry->value.size() + read.body.size() > stored_read_limit()) {
            refused("it is larger than read_size_limit");
            return false;
        }
        envelope::problem why{};
        envelope::coding how{};
        const auto prefix = envelope::open_split(read.found.entry->value, read.body, identity, why, how);
        if (!prefix) {
            refused(envelope::describe(why));
            return false;
        }
        if (how != envelope::coding::plain) return std::nullopt;
        if (site.adopt_bytes(*prefix, std::move(read.body))) return true;
        refused("its value cannot be decoded as the result type (did the type change?)");
        return false;
    }

    void refused(std::string_view why) const {
        count(counter::corrupt_entries);
        const std::string shown = ref.key.size() == 64 ? std::string(ref.key) : std::string(sha256_hex(ref.key).view());
        log(log_level::warning, fn.name + " [" + shown.substr(0, 12) + "]: stored entry refused, " + std::string(why) +
                                    "; recomputing it");
    }

    /// Keeps a moving average of the function's computation time (early_refresh reads it).
    void note_compute_time(steady::duration took) const {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
        const auto before = fn.compute_ns.load(std::memory_order_relaxed);
        fn.compute_ns.store(before == 0 ? ns : before + (ns - before) / 4, std::memory_order_relaxed);
    }

    void release(const claim_token* held) const {
        if (held == nullptr) return;
        try {
            store().release_claim(ref, *held);
        } catch (const std::exception& e) {
            backend_failed(e);
        }
    }

    /// Runs `compute`, stores what it returns when the settings allow, and releases `held` whatever
    /// happens. Exceptions of the function reach the caller with nothing stored and no claim left.
    /// Returns whether the value was stored.
    template <class Compute>
    bool compute_and_store(Compute&& compute, const claim_token* held, bool keep = true) const {
        computed_value value;
        // The encoding's buffer goes back to the thread for its next encoding or read, whatever happens.
        struct recycle_bytes {
            computed_value& value;
            ~recycle_bytes() {
                if (value.bytes) recycle_value_buffer(std::move(*value.bytes));
            }
        } recycle{value};
        {
            std::optional<kept_claim> renewal;
            if (held != nullptr) renewal.emplace(settings.backend, ref, *held, settings.claim_lease);
            const auto started = steady::now();
            try {
                value = compute();
            } catch (...) {
                renewal.reset();
                count(counter::function_errors);
                say("the function threw: nothing stored");
                release(held);
                throw;
            }
            note_compute_time(steady::now() - started);
        }
        count(counter::recalculations);
        const char* not_kept = nullptr;
        if (!keep) {
            // The backend failed earlier in this call: a store would most likely wait for the same
            // failure (a server that stopped answering), so the call ends here.
            not_kept = "the backend failed earlier in this call: not stored";
        } else if (!value.bytes) {
            log(log_level::error, fn.name + ": the result cannot be encoded (" + value.encode_error +
                                      "); it is returned but not stored");
            not_kept = "not encodable";
        } else if (value.is_none && !settings.allow_none) {
            not_kept = "empty result and allow_none is off: not stored";
        }
        std::string_view stored;
        if (not_kept == nullptr) {
            stored = stored_form(*value.bytes, value.tail);
            if (limited_size(stored) + value.tail.size() > settings.entry_size_limit) {
                count(counter::size_limit_rejections);
                not_kept = "result is over entry_size_limit: not stored";
            }
        }
        if (not_kept != nullptr) {
            say(not_kept);
            release(held);
            return false;
        }
        std::size_t stored_size = 0;
        try {
            store_request request;
            request.value = stored;
            request.value_tail = value.tail;
            stored_size = request.value.size() + request.value_tail.size();
            request.release = held;
            store().store(ref, request);
            say("stored");
        } catch (const std::exception& e) {
            backend_failed(e);
            release(held);
            return false;
        }
        if (settings.evicts()) note_store(fn, settings, ref.key, stored_size);
        return true;
    }
};

/// Refreshes a stale entry in the background (next_time), with the claim the caller took, or with
/// one the job takes only while the entry is still stale (another refresh may have just stored it).
void schedule_refresh(const call_context& c, std::function<computed_value()> job, std::optional<claim_token> held,
                      std::chrono::nanoseconds max_age, std::string_view why) {
    function_state& fn = c.fn;
    std::string key(c.ref.key);
    {
        const std::lock_guard lock(fn.refresh_mutex);
        if (!fn.refreshing.insert(key).second) {
            c.say("a background refresh is already queued");
            if (held) c.release(&*held);
            return;
        }
    }
    c.say(why);
    thread_pool::instance().submit([self = fn.shared_from_this(), settings = &c.settings, key = std::move(key),
                                    c_identity = c.identity,
                                    job = std::move(job), held = std::move(held), verbose = c.verbose, max_age]() mutable {
        const call_context bg{*self, *settings, key_ref{settings->stored_name, key}, verbose, c_identity};
        struct unmark {
            function_state& fn;
            const std::string& key;
            ~unmark() {
                const std::lock_guard lock(fn.refresh_mutex);
                fn.refreshing.erase(key);
            }
        } done{*self, key};
        if (!held) {
            claim_token token = new_claim_token();
            try {
                if (!bg.store().read_or_claim(bg.ref, {token, settings->claim_lease, max_age}).claimed) {
                    bg.say("another caller is refreshing, or has just refreshed");
                    return;
                }
            } catch (const std::exception& e) {
                bg.backend_failed(e);
                return;
            }
            held = std::move(token);
        }
        bg.count(counter::background_refreshes);
        bg.compute_and_store(job, &*held);
    });
}

void maybe_clean_up(const call_context& c) {
    const resolved_settings& s = c.settings;
    const bool stale_entries = s.cleanup_stale && s.stale_after != std::chrono::nanoseconds::max();
    if (!stale_entries && !s.cleanup_other_versions) return;
    const auto now = steady::now().time_since_epoch().count();
    auto last = c.fn.last_cleanup.load(std::memory_order_relaxed);
    const auto interval = std::chrono::duration_cast<steady::duration>(s.cleanup_interval).count();
    if (last != 0 && now - last < interval) return;
    if (!c.fn.last_cleanup.compare_exchange_strong(last, now)) return;
    thread_pool::instance().submit([self = c.fn.shared_from_this(), settings = &s, stale_entries] {
        try {
            if (settings->cleanup_other_versions) {
                const auto removed = remove_other_versions(*settings->backend, self->name, *settings->values.version);
                if (removed > 0 && settings->verbose)
                    log(log_level::debug,
                        self->name + ": removed " + std::to_string(removed) + " entries of other versions");
            }
            if (!stale_entries) return;
            const auto removed = settings->backend->remove_older_than(settings->stored_name, settings->stale_after);
            if (removed > 0 && settings->verbose)
                log(log_level::debug, self->name + ": removed " + std::to_string(removed) + " stale entries");
        } catch (const std::exception& e) {
            log(log_level::warning, self->name + ": cleanup failed: " + e.what());
        }
    });
}

/// Returns whether the computed value was stored.
bool overwrite(const call_context& c, call_site& site) {
    c.say("overwrite_cache: computing");
    const claim_token token = new_claim_token();
    bool claimed = false;
    try {
        claimed = c.store().try_claim(c.ref, token, c.settings.claim_lease);
    } catch (const std::exception& e) {
        c.backend_failed(e);
    }
    return c.compute_and_store([&] { return site.compute(); }, claimed ? &token : nullptr);
}

/// One cached call as explicit steps: look at the entry (reading it, or reading and claiming it in
/// one operation), then serve it, compute it under a claim, or wait for another caller's claim and
/// look again. Each step returns the next, so the same steps can be driven by other means (a
/// continuation instead of a blocked thread) without changing them.
class call_run {
public:
    enum class step { look, wait, compute_claimed, compute_unclaimed, done };

    call_run(const call_context& c, call_site& site, std::chrono::nanoseconds max_age)
        : c_(c), site_(site), max_age_(max_age), claim_next_(c.caps().claim_on_read),
          poll_(c.caps().min_poll_interval) {
        const auto timeout = c.settings.wait_for_calc_timeout;
        deadline_ = timeout > std::chrono::nanoseconds(0) ? steady::now() + timeout : steady::time_point::max();
    }

    /// How the value was obtained, once run() has returned.
    [[nodiscard]] call_status status() const noexcept { return status_; }

    /// How old the caller's value is when it is the stored one (a fresh hit, a wait, a stored
    /// computation); empty otherwise.
    [[nodiscard]] std::optional<std::chrono::nanoseconds> stored_age() const noexcept { return stored_age_; }

    void run() {
        step next = step::look;
        while (next != step::done) {
            switch (next) {
                case step::look: next = look(); break;
                case step::wait: next = wait(); break;
                case step::compute_claimed: next = compute(&*token_); break;
                case step::compute_unclaimed: next = compute(nullptr); break;
                case step::done: break;
            }
        }
    }

private:
    const claim_token& token() {
        if (!token_) token_ = new_claim_token();
        return *token_;
    }

    /// Reads the entry (and claims it when that is the plan), then decides what comes next.
    step look() {
        // The change counter is read before each look after the first, so that a change between
        // the look and the wait is not missed; the first wait looks again once it has read it, so
        // that hits never pay for it.
        if (!first_look_) generation_ = c_.settings.hub->generation(c_.ref);
        read_value read;
        read_result& found = read.found;
        const read_limit_scope limit(c_.stored_read_limit());
        try {
            if (force_claim_) {
                found.claimed = c_.store().try_claim(c_.ref, token(), c_.settings.claim_lease);
                found.claim = found.claimed ? claim_state::none : claim_state::live;
            } else if (!waited_ && site_.byte_prefix() != 0 && c_.settings.splitter != nullptr && c_.sealed()) {
                // The result's bytes straight into its own buffer (split_reader.hpp).
                std::optional<claim_request> request;
                if (claim_next_) request.emplace(claim_request{token(), c_.settings.claim_lease, max_age_});
                split_read parts;
                c_.settings.splitter->read_split(c_.ref, max_age_, envelope::size + site_.byte_prefix(),
                                                 request ? &*request : nullptr, parts);
                found = std::move(parts.found);
                read.body = std::move(parts.body);
                read.split = parts.split;
            } else if (claim_next_) {
                found = c_.store().read_or_claim(c_.ref, {token(), c_.settings.claim_lease, max_age_});
            } else if (waited_) {
                found = c_.store().poll(c_.ref, max_age_);
            } else {
                found = c_.store().read(c_.ref, max_age_);
            }
        } catch (const std::exception& e) {
            c_.backend_failed(e);
            backend_failed_ = true;
            return step::compute_unclaimed;
        }
        bool usable = false;
        std::optional<std::string_view> value;
        if (found.entry && !force_claim_) {
            std::optional<bool> adopted;
            if (read.split) {
                // A stale value that stale_if_error may serve is kept encoded: read as one.
                const bool keep_encoded = !found.fresh(max_age_) && found.entry->age <= c_.settings.stale_if_error;
                if (!keep_encoded) adopted = c_.adopt_split(read, site_);
                if (!adopted) {
                    found.entry->value += read.body;
                    read.body = std::string();
                }
            }
            if (adopted) {
                usable = *adopted;
            } else {
                value = c_.opened(read);
                usable = value && site_.adopt(*value);
                if (value && !usable) c_.refused("its value cannot be decoded as the result type (did the type change?)");
            }
            if (!usable) {
                if (!found.claimed) {
                    force_claim_ = true;  // read_or_claim never claims over a fresh entry
                    return step::look;
                }
            }
        }
        const bool fresh = usable && found.fresh(max_age_);
        const bool stale = usable && !fresh;
        if (!force_claim_) fallback_.reset();  // only the latest look's value may be served
        if (stale && found.entry->age <= c_.settings.stale_if_error) {
            fallback_ = std::string(*value);  // served if the function throws
        }
        if (usable && c_.settings.evicts()) note_use(c_.fn, c_.settings, c_.ref.key);
        if (first_look_) {
            first_look_ = false;
            c_.count(fresh ? counter::hits : stale ? counter::stale_hits : counter::misses);
        } else if (fresh) {
            c_.count(counter::hits);
        }
        if (fresh) {
            c_.say(waited_ ? "value arrived while waiting" : "fresh hit");
            status_ = waited_ ? call_status::waited : call_status::fresh_hit;
            stored_age_ = found.entry->age;
            if (c_.settings.early_refresh && refresh_due_early(found.entry->age)) {
                if (auto job = site_.detach()) {
                    // The job claims the entry only while it is still in the last fifth of its life
                    // (the early window is the last tenth): a refresh another caller has just stored
                    // is younger.
                    schedule_refresh(c_, std::move(job), std::nullopt, max_age_ - max_age_ / 5,
                                     "about to go stale: refreshing early in the background");
                }
            }
            return step::done;
        }
        if (stale && c_.settings.next_time) {
            if (auto job = site_.detach()) {
                schedule_refresh(c_, std::move(job), found.claimed ? std::move(token_) : std::nullopt, max_age_,
                                 "stale: returning the stored value and refreshing in the background");
                status_ = call_status::stale_hit;
                return step::done;
            }
        }
        if (found.claimed) {
            c_.say(stale ? "stale: recomputing" : "miss: computing");
            return step::compute_claimed;
        }
        if (found.claim == claim_state::live || claim_next_) return step::wait;
        claim_next_ = true;  // nobody computes it: claim it on the next look
        return step::look;
    }

    /// Another caller computes the entry: sleep until it changes (or a poll interval passes), or
    /// compute without a claim once wait_for_calc_timeout has passed.
    step wait() {
        if (steady::now() >= deadline_) {
            c_.count(counter::wait_timeouts);
            c_.say("waited past wait_for_calc_timeout: computing here");
            return step::compute_unclaimed;
        }
        if (!waited_) {
            waited_ = true;
            c_.count(counter::waits);
            c_.say("another caller is computing: waiting");
            try {
                c_.fn.watch(c_.settings);  // hear other processes' stores from now on
            } catch (const std::exception& e) {
                c_.backend_failed(e);
            }
        }
        if (!looked_with_counter_) {
            looked_with_counter_ = true;
            claim_next_ = false;
            force_claim_ = false;
            return step::look;  // reads the counter first: a store from now on is not missed
        }
        c_.settings.hub->wait(c_.ref, generation_, std::min(deadline_, steady::now() + poll_));
        poll_ = std::min(poll_ * 2, c_.caps().max_poll_interval);
        // A waiter reads (one request per look) while the claim lives; it claims when it is gone.
        claim_next_ = false;
        force_claim_ = false;
        return step::look;
    }

    step compute(const claim_token* held) {
        try {
            if (c_.compute_and_store([this] { return site_.compute(); }, held, !backend_failed_))
                stored_age_ = std::chrono::nanoseconds::zero();
        } catch (const std::exception& e) {
            serve_fallback(e.what());
        } catch (...) {
            serve_fallback("an exception not derived from std::exception");
        }
        return step::done;
    }

    /// Called while the function's exception is handled: rethrows it, unless stale_if_error has a
    /// stale value read earlier to return instead.
    void serve_fallback(std::string_view error) {
        if (!fallback_ || !site_.adopt(*fallback_)) throw;  // (adopt decoded it once already)
        c_.count(counter::stale_if_error_hits);
        log(log_level::warning, c_.fn.name + ": the function threw (" + std::string(error) +
                                    "); returning the stored value instead (stale_if_error)");
        status_ = call_status::stale_on_error;
    }

    /// Probabilistic early expiration (XFetch): within the last tenth of the value's life, a hit
    /// starts a refresh with a probability that grows as staleness nears, scaled by how long a
    /// computation takes, so that among many callers and processes one starts it early enough for it
    /// to finish before the value goes stale, and rarely two at once.
    [[nodiscard]] bool refresh_due_early(std::chrono::nanoseconds age) const {
        const auto lifetime = max_age_;
        if (lifetime == std::chrono::nanoseconds::max() || lifetime <= std::chrono::nanoseconds::zero()) return false;
        const auto remaining = lifetime - age;
        if (remaining > lifetime / 10) return false;
        // Until this process has computed the value itself, assume a fiftieth of the lifetime.
        const auto measured = std::chrono::nanoseconds(c_.fn.compute_ns.load(std::memory_order_relaxed));
        const double scale = static_cast<double>(std::max(measured, lifetime / 50).count());
        thread_local std::minstd_rand generator{static_cast<std::uint_fast32_t>(random_seed())};
        const double uniform = std::generate_canonical<double, 32>(generator);  // [0, 1)
        return scale * -std::log1p(-uniform) >= static_cast<double>(remaining.count());
    }

    const call_context& c_;
    call_site& site_;
    const std::chrono::nanoseconds max_age_;
    bool claim_next_;
    bool force_claim_ = false;
    bool first_look_ = true;
    bool waited_ = false;
    bool looked_with_counter_ = false;
    bool backend_failed_ = false;
    std::optional<claim_token> token_;
    std::optional<std::string> fallback_;  // stale_if_error: the encoded stale value to serve on a throw
    std::optional<std::chrono::nanoseconds> stored_age_;
    call_status status_ = call_status::computed;
    std::uint64_t generation_ = 0;
    std::chrono::milliseconds poll_;
    steady::time_point deadline_;
};

/// The key of one entry in the form its backend wants: a digest, or the encoded arguments.
class entry_key {
public:
    entry_key(const resolved_settings& settings, std::string_view key_bytes)
        : function_(settings.stored_name), raw_(key_bytes), digested_(settings.backend->capabilities().digest_keys) {
        if (digested_) digest_ = digest_key(settings.key_prefix, key_bytes);
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

call_status run_call(function_state& fn, const call_options& call, std::string_view key_bytes, call_site& site) {
    if (!caching_on() || call.skip_cache) {
        site.compute();
        return call_status::skipped;
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
    auto max_age = settings.stale_after;
    if (call.max_age) max_age = std::min(max_age, call.max_age->get());
    const bool verbose = call.verbose || settings.verbose;
    value_tier* const tier = settings.tier.get();
    // A verbose call goes through the engine, which explains its decisions.
    if (tier != nullptr && !verbose && !call.overwrite_cache &&
        tier->read(key_bytes, max_age, settings.early_refresh, site)) {
        if (settings.enable_metrics) fn.metrics.add(counter::hits);
        if (settings.cleanup_stale || settings.cleanup_other_versions) {
            const entry_key key(settings, key_bytes);
            maybe_clean_up(call_context{fn, settings, key.ref(), false});
        }
        return call_status::fresh_hit;
    }
    const entry_key key(settings, key_bytes);
    call_context c{fn, settings, key.ref(), verbose};
    if (c.sealed()) c.identity = envelope::identity(c.ref.function, c.ref.key);
    maybe_clean_up(c);
    // The tier keeps the value this call ends with only if no other change of the key was heard
    // meanwhile; this call's own changes are its to apply.
    std::optional<value_tier::own_call> own;
    if (tier != nullptr) own.emplace(*tier, c.ref.key, tier->stamp(c.ref.key));
    struct tier_update {
        value_tier* tier;
        std::string_view key;
        bool done = false;
        ~tier_update() {
            if (tier != nullptr && !done) tier->forget(key);  // the function threw: keep nothing
        }
    } update{tier, key_bytes};
    std::optional<std::chrono::nanoseconds> stored_age;
    call_status status = call_status::computed;
    if (call.overwrite_cache) {
        if (overwrite(c, site)) stored_age = std::chrono::nanoseconds::zero();
    } else {
        call_run run(c, site, max_age);
        run.run();
        status = run.status();
        stored_age = run.stored_age();
    }
    if (tier != nullptr) {
        if (stored_age) tier->keep(key_bytes, c.ref.key, site.share(), site.inline_size(), *stored_age, own->stamp());
        else tier->forget(key_bytes);
        update.done = true;
    }
    return status;
}

std::string encode_buffer() { return take_encode_buffer(); }

bool peek(function_state& fn, std::string_view key_bytes, call_site& site) {
    const resolved_settings& settings = fn.settings();
    const entry_key key(settings, key_bytes);
    call_context c{fn, settings, key.ref(), settings.verbose};
    if (c.sealed()) c.identity = envelope::identity(c.ref.function, c.ref.key);
    read_value read;
    read_result& found = read.found;
    const read_limit_scope limit(c.stored_read_limit());
    try {
        found = c.store().read(c.ref, settings.stale_after);
    } catch (const std::exception& e) {
        c.backend_failed(e);
        return false;
    }
    if (!found.fresh(settings.stale_after)) return false;
    const auto value = c.opened(read);
    if (value && site.adopt(*value)) return true;
    if (value) c.refused("its value cannot be decoded as the result type (did the type change?)");
    return false;
}

bool invalidate(function_state& fn, std::string_view key_bytes) {
    const resolved_settings& settings = fn.settings();
    const entry_key key(settings, key_bytes);
    return settings.backend->remove(key.ref());
}

void precache(function_state& fn, std::string_view key_bytes, std::string value_bytes) {
    const resolved_settings& settings = fn.settings();
    const entry_key key(settings, key_bytes);
    call_context c{fn, settings, key.ref(), false};
    if (c.sealed()) c.identity = envelope::identity(c.ref.function, c.ref.key);
    store_request request;
    std::string_view no_tail;
    request.value = c.stored_form(value_bytes, no_tail);
    settings.backend->store(key.ref(), request);
    if (settings.evicts()) note_store(fn, settings, key.ref().key, request.value.size());
}

void clear_cache(function_state& fn) {
    const resolved_settings& settings = fn.settings();
    settings.backend->clear(settings.stored_name);
}

void clear_being_calculated(function_state& fn) {
    const resolved_settings& settings = fn.settings();
    settings.backend->clear_claims(settings.stored_name);
}

std::optional<std::filesystem::path> cache_dpath(function_state& fn) {
    return fn.settings().backend->directory(fn.settings().stored_name);
}

metrics_snapshot read_metrics(function_state& fn) {
    metrics_snapshot snapshot = fn.metrics.snapshot();
    if (fn.settings().enable_metrics) {
        try {
            snapshot.entry_count = fn.settings().backend->entry_count(fn.settings().stored_name);
        } catch (const std::exception& e) {
            log(log_level::warning, fn.name + ": cannot count entries: " + e.what());
        }
    }
    return snapshot;
}

const std::string& function_name(const function_state& fn) noexcept { return fn.name; }

}  // namespace cachier::detail
