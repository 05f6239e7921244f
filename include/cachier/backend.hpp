#pragma once
/// @file backend.hpp
/// @brief The interface every storage backend implements. A backend stores bytes: it knows
/// nothing of types, staleness policy or metrics. Implement it to add a backend of your own.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cachier {

namespace detail {
class change_notifier;
}

/// Names one entry: the cached function's name and the entry's key.
struct key_ref {
    std::string_view function;  ///< the name given to cachier::cachier
    /// 64 lowercase hex characters (SHA-256 of the name and the encoded arguments), or, for a
    /// backend whose digest_keys() is false, the encoded arguments themselves (any bytes).
    std::string_view key;
};

/// A stored value as a backend returns it.
struct stored_entry {
    std::string value;              ///< the encoded value
    std::chrono::nanoseconds age{}; ///< how long ago it was stored, by the backend's own clock
};

/// An opaque, process-unique identifier of one claim ("being calculated" mark).
using claim_token = std::string;

/// Storage for cached values and claims. All member functions may be called from many threads at
/// once. Failures are reported by throwing cachier::backend_error.
///
/// A claim says "this caller is computing this key". try_claim must be atomic across every process
/// and machine sharing the storage (a conditional insert, SET NX, findAndModify, an exclusive
/// file lock). A claim whose owner dies must stop counting after at most the lease.
class backend {
public:
    backend();
    virtual ~backend();
    backend(const backend&) = delete;
    backend& operator=(const backend&) = delete;

    /// A short name of the backend kind ("memory", "file", ...).
    [[nodiscard]] virtual std::string_view kind() const noexcept = 0;

    /// Reads one entry; empty when there is none (or it is unreadable, which the backend reports).
    virtual std::optional<stored_entry> load(const key_ref& ref) = 0;

    /// Stores a value, replacing any previous one. When `held` is given, the caller's claim on the
    /// key is released in the same operation where the storage allows it.
    virtual void store(const key_ref& ref, std::string_view value, const claim_token* held) = 0;

    /// Claims the key for computation; true when this token now holds the claim, false when a live
    /// claim of another owner exists. `lease` bounds how long the claim outlives a dead owner.
    virtual bool try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) = 0;

    /// Extends a held claim by `lease`. Called periodically while a computation runs, when
    /// claims_expire() is true.
    virtual void renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease);

    /// Releases a claim held by `token`; does nothing when the token no longer holds it.
    virtual void release_claim(const key_ref& ref, const claim_token& token) = 0;

    /// True when keys must be portable digests because the storage outlives or leaves the process.
    /// An in-process backend returns false and receives the encoded arguments, saving the digest.
    [[nodiscard]] virtual bool digest_keys() const noexcept { return true; }

    /// True when claims end by lease expiry and so must be renewed while a computation runs.
    [[nodiscard]] virtual bool claims_expire() const noexcept { return false; }

    /// Removes every entry of one function.
    virtual void clear(std::string_view function) = 0;

    /// Removes every claim of one function.
    virtual void clear_claims(std::string_view function) = 0;

    /// Removes the entries of one function older than `max_age`; returns how many were removed.
    virtual std::size_t remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) = 0;

    /// The number of entries of one function, where that is cheap to learn; empty otherwise.
    virtual std::optional<std::uint64_t> entry_count(std::string_view function);

    /// The directory holding one function's entries (file backend); empty for other backends.
    [[nodiscard]] virtual std::optional<std::filesystem::path> directory(std::string_view function) const;

    /// How long a waiter may sleep before it looks at the storage again when no notification came.
    /// Backends that learn of every change (in-process storage, server push) return a long interval.
    [[nodiscard]] virtual std::chrono::milliseconds max_poll_interval() const noexcept;

    /// Wakes the threads of this process waiting on `ref`. The engine calls it after its own writes;
    /// a backend calls it when it learns of a change made elsewhere.
    void notify_change(const key_ref& ref) noexcept;

    /// A counter that notify_change advances; read it before load() and pass it to wait_for_change.
    [[nodiscard]] std::uint64_t change_generation(const key_ref& ref) const noexcept;

    /// Blocks until notify_change(ref) is called after `seen` was read, or until `deadline`.
    void wait_for_change(const key_ref& ref, std::uint64_t seen,
                         std::chrono::steady_clock::time_point deadline) const;

private:
    std::unique_ptr<detail::change_notifier> notifier_;
};

}  // namespace cachier
