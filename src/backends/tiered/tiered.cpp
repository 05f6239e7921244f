// A tiered backend: an in-process store keeps copies of what a shared store holds. Reads are served
// from the near store when it has a fresh copy; everything else (claims, stores, removals, listings)
// goes to the shared store, whose change events drop the near copies. A copy is made only if no
// change of its key was heard while it was read, so an overwritten value is never kept.

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

namespace cachier {
namespace {

class tiered_store final : public backend {
public:
    tiered_store(std::shared_ptr<backend> near, std::shared_ptr<backend> shared, const tiered_options& options)
        : backend("tiered+" + std::string(shared->kind()), tiered_capabilities(*shared, options)), near_(std::move(near)),
          shared_(std::move(shared)), options_(options), pushes_(shared_->capabilities().pushes_changes),
          listener_(std::make_shared<listener>(*this)) {
        shared_->add_change_sink(listener_);
    }

    ~tiered_store() override {
        listener_->detach();
        shared_->remove_change_sink(listener_.get());
        const std::lock_guard lock(watch_mutex_);
        for (const auto& function : watched_) {
            try {
                shared_->unwatch(function);
            } catch (...) {  // NOLINT(bugprone-empty-catch): a failing server must not stop destruction
            }
        }
    }
    tiered_store(const tiered_store&) = delete;
    tiered_store& operator=(const tiered_store&) = delete;

protected:
    read_result do_read(const key_ref& ref, std::chrono::nanoseconds max_age) override {
        read_result kept = near_->read(ref, max_age);
        if (kept.fresh(max_age)) return kept;
        const std::uint64_t stamp = stamp_of(ref.key);
        read_result found = shared_->read(ref, max_age);
        keep_copy(ref, found, stamp);
        return found;
    }

    read_result do_poll(const key_ref& ref, std::chrono::nanoseconds max_age) override {
        // A waiter wants the shared store's word on the claim.
        const std::uint64_t stamp = stamp_of(ref.key);
        read_result found = shared_->poll(ref, max_age);
        keep_copy(ref, found, stamp);
        return found;
    }

    read_result do_read_or_claim(const key_ref& ref, const claim_request& request) override {
        read_result kept = near_->read(ref, request.max_age);
        if (kept.fresh(request.max_age)) return kept;
        const std::uint64_t stamp = stamp_of(ref.key);
        read_result found = shared_->read_or_claim(ref, request);
        keep_copy(ref, found, stamp);
        return found;
    }

    bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        return shared_->try_claim(ref, token, lease);
    }
    void do_renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        shared_->renew_claim(ref, token, lease);
    }
    void do_release_claim(const key_ref& ref, const claim_token& token) override { shared_->release_claim(ref, token); }

    void do_store(const key_ref& ref, const store_request& request) override {
        watch_for_copies(ref.function);
        shared_->store(ref, request);  // its change events drop the near copy; the next read copies
    }

    bool do_remove(const key_ref& ref) override {
        const bool removed = shared_->remove(ref);
        near_->remove(ref);
        return removed;
    }
    std::size_t do_remove_entries(std::string_view function, std::span<const std::string> keys) override {
        const std::size_t removed = shared_->remove_entries(function, keys);
        near_->remove_entries(function, keys);
        return removed;
    }
    void do_touch(std::string_view function, std::span<const std::string> keys) override {
        shared_->touch(function, keys);
    }
    void do_clear(std::string_view function) override {
        shared_->clear(function);
        near_->clear(function);
    }
    void do_clear_claims(std::string_view function) override { shared_->clear_claims(function); }
    std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const std::size_t removed = shared_->remove_older_than(function, max_age);
        near_->remove_older_than(function, max_age);
        return removed;
    }
    std::uint64_t do_entry_count(std::string_view function) override { return shared_->entry_count(function); }
    function_info do_summary(std::string_view function) override { return shared_->summary(function); }
    void do_list_functions(const visitor<function_info>& visit) override { shared_->list_functions(visit); }
    void do_summaries(const visitor<function_info>& visit) override { shared_->summaries(visit); }
    void do_list_entries(std::string_view function, const visitor<entry_info>& visit) override {
        shared_->list_entries(function, visit);
    }
    std::optional<std::filesystem::path> do_directory(std::string_view function) const override {
        return shared_->directory(function);
    }
    void do_watch(std::string_view function) override { shared_->watch(function); }
    void do_unwatch(std::string_view function) override { shared_->unwatch(function); }

private:
    static backend_capabilities tiered_capabilities(const backend& shared, const tiered_options& options) {
        backend_capabilities caps = shared.capabilities();
        caps.store_releases_claim = true;  // the shared store's store releases the claim it is given
        caps.reads_record_use = false;     // reads served in the process never reach the shared store
        caps.keeps_values_in_process = true;
        caps.in_process_max_age = options.max_staleness.get();
        return caps;
    }

    /// Hears the shared store's changes (this process's and, where it pushes them, other processes'):
    /// drops the near copies and reports each change as the tiered store's.
    class listener final : public change_sink {
    public:
        explicit listener(tiered_store& owner) : owner_(&owner) {}
        void on_change(const change_event& event) noexcept override {
            const std::lock_guard lock(mutex_);
            if (owner_ == nullptr) return;
            owner_->drop_copies(event);
            owner_->report_change(event);
        }
        void detach() {
            const std::lock_guard lock(mutex_);
            owner_ = nullptr;
        }

    private:
        std::mutex mutex_;
        tiered_store* owner_;
    };

    struct alignas(64) stripe {
        std::mutex mutex;
        std::atomic<std::uint64_t> changes{0};  // written under the mutex
        std::uint32_t in_flight = 0;             // changes announced and not settled, under the mutex
    };

    /// Moves a count of changes in flight by an event (never below zero: a change announced before
    /// the listener listened settles unannounced).
    static void count_in_flight(std::uint32_t& in_flight, change_kind kind) noexcept {
        if (kind == change_kind::changing) ++in_flight;
        else if (kind == change_kind::settled && in_flight > 0) --in_flight;
    }

    stripe& stripe_of(std::string_view key) noexcept { return stripes_[std::hash<std::string_view>{}(key) % stripes_.size()]; }
    std::uint64_t stamp_of(std::string_view key) noexcept {
        return stripe_of(key).changes.load(std::memory_order_acquire);
    }

    void drop_copies(const change_event& event) noexcept {
        if (event.kind == change_kind::claim_released) return;
        const bool settled = event.kind == change_kind::settled;  // the change itself dropped them
        try {
            if (!event.key.empty()) {
                stripe& s = stripe_of(event.key);
                const std::lock_guard lock(s.mutex);
                s.changes.fetch_add(1, std::memory_order_release);
                count_in_flight(s.in_flight, event.kind);
                if (!settled) near_->remove({event.function, event.key});
                return;
            }
            for (stripe& s : stripes_) {
                const std::lock_guard lock(s.mutex);
                s.changes.fetch_add(1, std::memory_order_release);
                count_in_flight(s.in_flight, event.kind);
            }
            if (!settled) near_->clear(event.function);
        } catch (...) {  // NOLINT(bugprone-empty-catch): in-process storage does not fail
        }
    }

    /// Copies what the shared store returned into the near store, unless its key changed meanwhile.
    /// A copy lives max_staleness at most: where the shared store pushes no changes, that bounds how
    /// long another process's change goes unseen; where it does, it bounds a change whose
    /// notification was lost, and an entry's own expiry (which nobody reports).
    void keep_copy(const key_ref& ref, const read_result& found, std::uint64_t stamp) {
        watch_for_copies(ref.function);
        if (!found.entry) return;
        store_request copy;
        copy.value = found.entry->value;
        copy.age = found.entry->age;
        copy.expires_after = options_.max_staleness.get();
        copy_if_unchanged(ref, copy, stamp);
    }

    void copy_if_unchanged(const key_ref& ref, const store_request& copy, std::uint64_t stamp) {
        {
            stripe& s = stripe_of(ref.key);
            const std::lock_guard lock(s.mutex);
            if (s.changes.load(std::memory_order_relaxed) != stamp || s.in_flight > 0) return;
            near_->store(ref, copy);
        }
        if (copies_.fetch_add(1, std::memory_order_relaxed) + 1 >= options_.max_entries) trim();
    }

    /// Hears other processes' changes of a function from its first copy on (where the store pushes).
    void watch_for_copies(std::string_view function) {
        if (!pushes_) return;
        const std::lock_guard lock(watch_mutex_);
        if (watched_.contains(function)) return;
        shared_->watch(function);
        watched_.emplace(function);
    }

    /// Drops every near copy once about max_entries were made: the shared store keeps the values.
    void trim() {
        copies_.store(0, std::memory_order_relaxed);
        std::vector<std::string> functions;
        near_->list_functions([&](const function_info& f) {
            functions.push_back(f.name);
            return true;
        });
        for (const auto& function : functions) near_->clear(function);
    }

    std::shared_ptr<backend> near_;
    std::shared_ptr<backend> shared_;
    const tiered_options options_;
    const bool pushes_;
    std::shared_ptr<listener> listener_;
    std::array<stripe, 64> stripes_;
    std::atomic<std::size_t> copies_{0};
    std::mutex watch_mutex_;
    std::set<std::string, std::less<>> watched_;
};

}  // namespace

std::shared_ptr<backend> tiered_backend(std::shared_ptr<backend> near, std::shared_ptr<backend> shared,
                                        const tiered_options& options) {
    if (!near || !shared) throw config_error("tiered_backend needs two backends");
    if (near->capabilities().shared_between_processes)
        throw config_error("the near tier of tiered_backend must be in-process storage (memory_backend()), not " +
                           std::string(near->kind()));
    if (options.max_staleness.get() < std::chrono::milliseconds(1))
        throw config_error("tiered_options::max_staleness must be at least 1ms");
    if (options.max_entries == 0) throw config_error("tiered_options::max_entries must be at least 1");
    return std::make_shared<tiered_store>(std::move(near), std::move(shared), options);
}

}  // namespace cachier
