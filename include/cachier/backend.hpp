#pragma once
/// @file backend.hpp
/// @brief The storage driver interface (version 2). A backend stores bytes: it knows nothing of
/// types, staleness policy or metrics. Implement it to add a backend of your own.
///
/// The public member functions are non-virtual: they do what every backend must do the same way
/// (turn client failures into cachier::backend_error, release a claim after a store where the storage
/// cannot do both at once, tell the process's waiters of each change) around protected virtual
/// `do_*` functions that a driver implements with I/O only. See "Writing a backend" in the README.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cachier {

namespace detail {
class on_fork_child;
}

/// Names one entry: the cached function's name and the entry's key.
struct key_ref {
    std::string_view function;  ///< the name given to cachier::cachier
    /// 64 lowercase hex characters (SHA-256 of the name and the encoded arguments), or, for a
    /// backend whose capabilities say `digest_keys = false`, the encoded arguments themselves.
    std::string_view key;
};

/// An opaque, process-unique identifier of one claim ("being calculated" mark).
using claim_token = std::string;

/// The claim on an entry as one read saw it.
enum class claim_state : std::uint8_t {
    none,     ///< nobody computes the entry
    live,     ///< another caller computes it and its claim still counts
    expired,  ///< a claim exists but its lease ran out (its owner died or hangs)
};

/// How claims end when their owner dies.
enum class claim_mechanism : std::uint8_t {
    lease,  ///< a claim counts until its lease runs out; the engine renews it while computing
    lock,   ///< a claim is a lock the operating system releases when its owner dies (flock)
};

/// What a storage can do, stated once by each driver.
struct backend_capabilities {
    /// Keys are portable digests; false for in-process storage, which receives the encoded
    /// arguments themselves and saves the digest.
    bool digest_keys = true;
    /// Whether other processes can reach the same storage.
    bool shared_between_processes = true;
    /// Values leave this process's memory (files, servers), so the engine seals each one in an
    /// integrity envelope (format version, checksum, the identity of its entry) and checks it on
    /// every read. False only for storage inside this process (the memory backend).
    bool stores_outside_process = true;
    /// How a dead owner's claim ends.
    claim_mechanism claims = claim_mechanism::lease;
    /// read_or_claim is one storage operation (one round trip), so the engine reads and claims
    /// together; otherwise it reads first and claims only when it must.
    bool claim_on_read = false;
    /// do_store releases the claim it is given in the same operation; otherwise the base releases it.
    bool store_releases_claim = false;
    /// The storage tells this process of changes made elsewhere (pub/sub, NOTIFY, in-process).
    bool pushes_changes = false;
    /// The storage drops expired entries by itself (a per-entry expiry is always honoured on read).
    bool native_expiry = false;
    /// Counting one function's entries costs one cheap request.
    bool cheap_entry_count = false;
    /// Listing entries reads their metadata only, not their values.
    bool cheap_listing = false;
    /// Entries record when they were last used: touch() records a use and listings report it
    /// (entry_info::since_last_use), for least-recently-used eviction.
    bool records_last_use = false;
    /// Every read records a use by itself (storage in this process), so the engine never calls
    /// touch(); otherwise the engine touches entries it read, at most once a second per entry.
    bool reads_record_use = false;
    /// The engine may keep decoded values of this storage in the process (an in-process tier in
    /// front of it): its own changes, and other processes' changes where it pushes them, are
    /// reported to its change sinks. True for the memory backend and tiered backends.
    bool keeps_values_in_process = false;
    /// How long a value kept in the process is served without looking at the storage again: the
    /// bound of staleness where the storage does not push other processes' changes; the largest
    /// duration where it does.
    std::chrono::nanoseconds in_process_max_age = std::chrono::nanoseconds::max();
    /// The first and the longest interval a waiter sleeps before looking at the storage again when
    /// no change was reported (a waiter backs off from the first to the longest).
    std::chrono::milliseconds min_poll_interval{1};
    std::chrono::milliseconds max_poll_interval{1000};  ///< see min_poll_interval
    /// do_store takes a value in two parts (store_request::value, then store_request::value_tail)
    /// and writes them without joining them first; otherwise store() joins them before do_store.
    bool accepts_value_tails = false;
};

/// A stored value as a backend returns it.
struct stored_entry {
    std::string value;              ///< the encoded value
    std::chrono::nanoseconds age{}; ///< how long ago it was stored, by the storage's own clock
};

/// What a read found.
struct read_result {
    /// The entry, if one is stored and not past its per-entry expiry.
    std::optional<stored_entry> entry;
    /// The entry's claim. Only reported when the entry is missing or older than the read's max_age
    /// (a fresh entry needs no claim, and a cheap hit does not look); `none` otherwise.
    claim_state claim = claim_state::none;
    /// read_or_claim only: the caller's token holds the claim now.
    bool claimed = false;

    /// True when the entry exists and is no older than `max_age` (negative: nothing is fresh).
    [[nodiscard]] bool fresh(std::chrono::nanoseconds max_age) const noexcept {
        return entry.has_value() && max_age >= std::chrono::nanoseconds::zero() && entry->age <= max_age;
    }
};

/// A claim to take when an entry is missing or stale.
struct claim_request {
    const claim_token& token;         ///< the caller's token
    std::chrono::milliseconds lease;  ///< how long the claim outlives a dead owner
    std::chrono::nanoseconds max_age; ///< entries older than this are stale (negative: all are)
};

/// A value to store.
struct store_request {
    /// The bytes to keep: for a backend that stores outside the process, the engine's integrity
    /// envelope followed by the encoded value; kept and returned exactly as given.
    std::string_view value;
    /// The rest of the value, after `value` (the engine passes a large string result's own bytes
    /// here instead of copying them). A backend sees it non-empty only when its capabilities say
    /// accepts_value_tails; for others, store() joins the two parts into `value`.
    std::string_view value_tail;
    /// How old the value already is: a copy between backends keeps its age. Zero for a new value.
    std::chrono::nanoseconds age{0};
    /// The entry disappears this long after the store (per-entry expiry); empty: never.
    std::optional<std::chrono::nanoseconds> expires_after;
    /// A claim of the caller's to release in the same operation; null: none.
    const claim_token* release = nullptr;
};

/// One entry as a listing reports it.
struct entry_info {
    std::string key;                     ///< as in key_ref::key
    bool has_value = false;              ///< false: only a claim is stored
    std::uint64_t size = 0;              ///< bytes of the encoded value
    std::chrono::nanoseconds age{};      ///< since it was stored
    claim_state claim = claim_state::none;
    /// Since the entry was last read, where the storage records it.
    std::optional<std::chrono::nanoseconds> since_last_use;
};

/// One function as a listing reports it.
struct function_info {
    std::string name;           ///< the name given to cachier::cachier
    std::uint64_t entries = 0;  ///< entries with a value
    std::uint64_t bytes = 0;    ///< their encoded size
    std::optional<std::chrono::nanoseconds> oldest;  ///< age of the oldest entry
    std::optional<std::chrono::nanoseconds> newest;  ///< age of the newest entry

    /// Counts one more value of `size` bytes, `age` old.
    void add(std::uint64_t size, std::chrono::nanoseconds age) noexcept {
        ++entries;
        bytes += size;
        oldest = oldest && *oldest > age ? *oldest : age;
        newest = newest && *newest < age ? *newest : age;
    }
};

/// Limits on stored values: of one function (options::max_entries, options::max_bytes), or of a whole
/// storage (backend::set_store_limits); unset: none.
struct entry_limits {
    std::optional<std::uint64_t> max_entries;  ///< values kept at most
    std::optional<std::uint64_t> max_bytes;    ///< stored bytes (entry_info::size, summed) kept at most
};

/// Receives listed items one at a time; returns false to stop the listing.
template <class Item>
using visitor = std::function<bool(const Item&)>;

/// What happened to entries.
enum class change_kind : std::uint8_t {
    stored,          ///< a value was stored
    removed,         ///< values were removed (one entry, or stale ones)
    cleared,         ///< every value of the function was removed
    claim_released,  ///< a claim ended without a value (the computation failed or was cleared)
    /// This process is about to change the entry (or, with an empty key, the function's entries);
    /// `settled` follows once the change is made or failed. Values read meanwhile may be either
    /// side of it: in-process tiers keep none of them.
    changing,
    settled,  ///< the change announced by `changing` is made (its own event came first) or failed
};

/// One change of a backend's storage, made by this process or (where the storage tells) another.
struct change_event {
    std::string_view function;  ///< the function whose entries changed
    std::string_view key;       ///< the entry; empty: any or all of the function's entries
    change_kind kind;           ///< what happened
};

/// Receives a backend's change events (the engine's waiters, a composite backend's own sinks).
class change_sink {
public:
    virtual ~change_sink() = default;
    /// Called for each change; must not throw and must not call back into the reporting backend.
    virtual void on_change(const change_event& event) noexcept = 0;
};

/// Storage for cached values and claims. Every member function may be called from many threads
/// at once. Failures throw cachier::backend_error.
///
/// A claim says "this caller is computing this key". Taking one must be atomic across every
/// process and machine sharing the storage (a conditional insert, SET NX, findAndModify, an
/// exclusive file lock). A claim whose owner dies must stop counting after at most the lease.
class backend {
public:
    virtual ~backend();
    backend(const backend&) = delete;
    backend& operator=(const backend&) = delete;

    /// A short name of the backend kind ("memory", "file", "redis", ...).
    [[nodiscard]] std::string_view kind() const noexcept { return kind_; }

    /// What this storage can do.
    [[nodiscard]] const backend_capabilities& capabilities() const noexcept { return capabilities_; }

    /// Reads one entry and, when it is missing or older than `max_age`, the state of its claim.
    [[nodiscard]] read_result read(const key_ref& ref, std::chrono::nanoseconds max_age);

    /// A waiter's look at an entry another caller is computing, repeated until the claim ends: what
    /// read() returns, except that it may report a live claim alone, without reading the entry
    /// (storage whose read of both costs two requests then costs one per look while the claim lives).
    [[nodiscard]] read_result poll(const key_ref& ref, std::chrono::nanoseconds max_age);

    /// Reads one entry and, when it is missing or stale and nobody else holds a live claim, claims
    /// it for `request.token` in the same operation. Never claims a fresh entry.
    [[nodiscard]] read_result read_or_claim(const key_ref& ref, const claim_request& request);

    /// Claims the key whatever its value; true when `token` holds the claim now, false when
    /// another owner's live claim exists.
    [[nodiscard]] bool try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease);

    /// Extends a held claim by `lease` (called periodically while a computation runs, for leases).
    void renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease);

    /// Releases a claim held by `token`; does nothing when the token no longer holds it.
    void release_claim(const key_ref& ref, const claim_token& token);

    /// Stores a value, replacing any previous one, and releases `request.release` if given.
    void store(const key_ref& ref, const store_request& request);

    /// Removes one entry's value (a live claim on it stays); true when there was one.
    bool remove(const key_ref& ref);

    /// Removes the values of several entries of one function (live claims stay); returns how many
    /// there were.
    std::size_t remove_entries(std::string_view function, std::span<const std::string> keys);

    /// Records that the entries `keys` of `function` were used just now (a batch of reads), where
    /// the capabilities say records_last_use; does nothing otherwise.
    void touch(std::string_view function, std::span<const std::string> keys);

    /// Removes every value of one function (live claims stay).
    void clear(std::string_view function);

    /// Removes every claim of one function.
    void clear_claims(std::string_view function);

    /// Removes the values of one function older than `max_age`; returns how many were removed.
    std::size_t remove_older_than(std::string_view function, std::chrono::nanoseconds max_age);

    /// The number of values of one function (listing them where the storage cannot count cheaply).
    [[nodiscard]] std::uint64_t entry_count(std::string_view function);

    /// One function's values, their bytes and ages (as list_functions reports it), for deciding
    /// whether it is over its limits: where the storage lists values without their expiry (S3), an
    /// upper bound that counts expired values not yet removed.
    [[nodiscard]] function_info summary(std::string_view function);

    /// Calls `visit` for each function that has entries, one at a time, until it returns false.
    void list_functions(const visitor<function_info>& visit);

    /// list_functions for deciding whether the storage is over its store limits: each function as
    /// summary() gives it (cheaper where list_functions reads every value's metadata: S3).
    void summaries(const visitor<function_info>& visit);

    /// Calls `visit` for each entry of `function`, one at a time, until it returns false.
    void list_entries(std::string_view function, const visitor<entry_info>& visit);

    /// The directory holding one function's entries (file backend); empty for other backends.
    [[nodiscard]] std::optional<std::filesystem::path> directory(std::string_view function) const;

    /// Asks to hear of other processes' changes to `function` (counted: one unwatch per watch).
    /// Storage that pushes changes subscribes to the function's changes only while it is watched.
    void watch(std::string_view function);

    /// Ends one watch of `function`.
    void unwatch(std::string_view function);

    /// Sends this backend's change events to `sink` from now on (kept alive by the backend).
    void add_change_sink(std::shared_ptr<change_sink> sink);

    /// Stops sending change events to `sink`.
    void remove_change_sink(const change_sink* sink);

    /// Limits every function of this storage together: after stores made through cachier, the
    /// least recently used values of all functions are evicted in the background down to 90% of
    /// each limit. By URL: `max_entries=N`, `max_bytes=SIZE` on any scheme. Unset fields: no limit.
    void set_store_limits(const entry_limits& limits) noexcept;

    /// The limits set_store_limits set.
    [[nodiscard]] entry_limits store_limits() const noexcept;

    /// Whether set_store_limits set any limit (cheap: the engine asks on every hit).
    [[nodiscard]] bool has_store_limits() const noexcept {
        return store_max_entries_.load(std::memory_order_relaxed) != 0 ||
               store_max_bytes_.load(std::memory_order_relaxed) != 0;
    }

protected:
    /// @param kind a short name of the backend kind
    /// @param capabilities what the storage can do
    backend(std::string kind, backend_capabilities capabilities);

    /// Tells the change sinks of a change. Drivers call it for changes they learn of from the
    /// storage (made by other processes); the base already reports this process's own changes.
    void report_change(const change_event& event) noexcept;

    /// Reads one entry; the claim state is needed only when the entry is missing or stale.
    virtual read_result do_read(const key_ref& ref, std::chrono::nanoseconds max_age) = 0;

    /// See poll(). The default reads.
    virtual read_result do_poll(const key_ref& ref, std::chrono::nanoseconds max_age);

    /// read_or_claim in one storage operation. The default reads, claims when it must and can,
    /// then reads again so that a value stored between the two is not claimed over.
    virtual read_result do_read_or_claim(const key_ref& ref, const claim_request& request);

    /// Takes the claim unless another owner's live claim exists.
    virtual bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) = 0;

    /// Extends a held claim; the default does nothing (claims by lock need no renewal).
    virtual void do_renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease);

    /// Releases the claim if `token` holds it.
    virtual void do_release_claim(const key_ref& ref, const claim_token& token) = 0;

    /// Stores a value (and releases request.release, when capabilities say store_releases_claim).
    virtual void do_store(const key_ref& ref, const store_request& request) = 0;

    /// Removes one value; true when there was one.
    virtual bool do_remove(const key_ref& ref) = 0;

    /// Removes several values of one function; the default removes them one at a time.
    virtual std::size_t do_remove_entries(std::string_view function, std::span<const std::string> keys);

    /// Records a use of each entry; the default does nothing (the storage records no use).
    virtual void do_touch(std::string_view function, std::span<const std::string> keys);

    /// Removes every value of one function.
    virtual void do_clear(std::string_view function) = 0;

    /// Removes every claim of one function.
    virtual void do_clear_claims(std::string_view function) = 0;

    /// Removes old values of one function; the default lists the entries and removes the old ones.
    virtual std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age);

    /// Counts one function's values; the default lists them.
    virtual std::uint64_t do_entry_count(std::string_view function);

    /// Summarizes one function; the default lists its entries.
    virtual function_info do_summary(std::string_view function);

    /// Lists functions with entries.
    virtual void do_list_functions(const visitor<function_info>& visit) = 0;

    /// Summarizes every function with entries; the default lists them (do_list_functions).
    virtual void do_summaries(const visitor<function_info>& visit);

    /// Lists one function's entries.
    virtual void do_list_entries(std::string_view function, const visitor<entry_info>& visit) = 0;

    /// The directory of one function; the default has none.
    [[nodiscard]] virtual std::optional<std::filesystem::path> do_directory(std::string_view function) const;

    /// Starts hearing of changes to `function` made elsewhere; the default does nothing.
    virtual void do_watch(std::string_view function);

    /// Stops hearing of changes to `function`; the default does nothing.
    virtual void do_unwatch(std::string_view function);

private:
    /// report_change, for the announcement of a change the base makes around each removal and store.
    static void report_to_sinks(backend& store, const change_event& event) noexcept;
    template <class Operation>
    decltype(auto) guarded(std::string_view doing, Operation&& operation,
                           std::optional<std::size_t> bytes = std::nullopt);

    const std::string kind_;
    const backend_capabilities capabilities_;
    mutable std::shared_mutex sinks_mutex_;
    std::vector<std::shared_ptr<change_sink>> sinks_;
    std::mutex watch_mutex_;
    std::vector<std::pair<std::string, std::size_t>> watched_;
    std::unique_ptr<detail::on_fork_child> fork_;  // renews the locks above in a forked child
    std::atomic<std::uint64_t> store_max_entries_{0};  // 0: no limit
    std::atomic<std::uint64_t> store_max_bytes_{0};    // 0: no limit
};

/// The name under which backends keep the entries of `function` at `version` (options::version):
/// the name itself when the version is empty, else the name, the byte 0xFF and the version.
[[nodiscard]] std::string stored_function_name(std::string_view function, std::string_view version);

/// A stored function name taken apart (see stored_function_name).
struct versioned_name {
    std::string function;  ///< the name given to cachier::cachier
    std::string version;   ///< empty: unversioned entries
};

/// Splits a name as backends list it into the function's name and version. An unversioned name
/// holding the byte 0xFF (never in UTF-8 text) reads as versioned.
[[nodiscard]] versioned_name split_stored_function_name(std::string_view stored);

/// Removes the entries of `function` kept under every version but `keep` ("" keeps the
/// unversioned ones); returns how many values were removed. Throws backend_error on failure.
std::uint64_t remove_other_versions(backend& store, std::string_view function, std::string_view keep);

/// What an eviction did.
struct eviction_report {
    std::uint64_t removed = 0;        ///< values removed
    std::uint64_t removed_bytes = 0;  ///< their stored size
    std::uint64_t entries_left = 0;   ///< values kept
    std::uint64_t bytes_left = 0;     ///< their stored size
};

/// Removes the least recently used values of `function` (by entry_info::since_last_use where the
/// storage records uses, else by age) until it is within `limits`. One listing of the function and
/// one removal request per batch of values. Throws backend_error on failure.
eviction_report evict_least_recently_used(backend& store, std::string_view function, const entry_limits& limits);

/// The same for every function of the storage together: the least recently used values of all
/// functions go first until the whole storage is within `limits`.
eviction_report evict_least_recently_used(backend& store, const entry_limits& limits);

}  // namespace cachier
