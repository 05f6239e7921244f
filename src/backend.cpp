// The non-virtual half of cachier::backend: typed failures, claims released after stores where the
// storage cannot do both at once, change reports to the sinks, counted watches, and the default
// implementations a small driver can rely on.

#include <algorithm>

#include <cachier/backend.hpp>
#include <cachier/errors.hpp>

#include "fork.hpp"

namespace cachier {

backend::backend(std::string kind, backend_capabilities capabilities)
    : kind_(std::move(kind)), capabilities_(capabilities),
      fork_(std::make_unique<detail::on_fork_child>([this] {
          detail::renew_lock(sinks_mutex_);
          detail::renew_lock(watch_mutex_);
      })) {}

backend::~backend() = default;

// Every failure leaves as a backend_error naming the backend and the operation, whatever the
// client library threw. `bytes`, when given, is the size of the value being written.
template <class Operation>
decltype(auto) backend::guarded(std::string_view doing, Operation&& operation, std::optional<std::size_t> bytes) {
    try {
        return operation();
    } catch (const std::exception& e) {
        std::string what = kind_ + " backend could not " + std::string(doing);
        if (bytes) what += " of " + std::to_string(*bytes) + " bytes";
        throw backend_error(what + ": " + e.what());
    }
}

read_result backend::read(const key_ref& ref, std::chrono::nanoseconds max_age) {
    return guarded("read an entry", [&] { return do_read(ref, max_age); });
}

read_result backend::poll(const key_ref& ref, std::chrono::nanoseconds max_age) {
    return guarded("read an entry", [&] { return do_poll(ref, max_age); });
}

read_result backend::do_poll(const key_ref& ref, std::chrono::nanoseconds max_age) { return do_read(ref, max_age); }

read_result backend::read_or_claim(const key_ref& ref, const claim_request& request) {
    return guarded("read or claim an entry", [&] { return do_read_or_claim(ref, request); });
}

bool backend::try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) {
    return guarded("claim an entry", [&] { return do_try_claim(ref, token, lease); });
}

void backend::renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) {
    guarded("renew a claim", [&] { do_renew_claim(ref, token, lease); });
}

void backend::release_claim(const key_ref& ref, const claim_token& token) {
    guarded("release a claim", [&] { do_release_claim(ref, token); });
    report_change({ref.function, ref.key, change_kind::claim_released});
}

namespace {

/// Reports `changing` now and `settled` when it goes out of scope, whatever happened between.
class announced_change {
public:
    announced_change(backend& store, std::string_view function, std::string_view key,
                     void (*report)(backend&, const change_event&) noexcept) noexcept
        : store_(store), function_(function), key_(key), report_(report) {
        report_(store_, {function_, key_, change_kind::changing});
    }
    ~announced_change() { report_(store_, {function_, key_, change_kind::settled}); }
    announced_change(const announced_change&) = delete;
    announced_change& operator=(const announced_change&) = delete;

private:
    backend& store_;
    std::string_view function_;
    std::string_view key_;
    void (*report_)(backend&, const change_event&) noexcept;
};

}  // namespace

void backend::report_to_sinks(backend& store, const change_event& event) noexcept { store.report_change(event); }

void backend::store(const key_ref& ref, const store_request& request) {
    const announced_change announced(*this, ref.function, ref.key, report_to_sinks);
    const std::size_t size = request.value.size() + request.value_tail.size();
    if (!request.value_tail.empty() && !capabilities_.accepts_value_tails) {
        std::string joined;
        joined.reserve(size);
        joined.append(request.value).append(request.value_tail);
        store_request whole = request;
        whole.value = joined;
        whole.value_tail = {};
        guarded("store a value", [&] { do_store(ref, whole); }, size);
    } else {
        guarded("store a value", [&] { do_store(ref, request); }, size);
    }
    // Reported before a separate release: the waiters can read the value already.
    report_change({ref.function, ref.key, change_kind::stored});
    if (request.release != nullptr && !capabilities_.store_releases_claim)
        guarded("release a claim", [&] { do_release_claim(ref, *request.release); });
}

bool backend::remove(const key_ref& ref) {
    const announced_change announced(*this, ref.function, ref.key, report_to_sinks);
    const bool removed = guarded("remove an entry", [&] { return do_remove(ref); });
    if (removed) report_change({ref.function, ref.key, change_kind::removed});
    return removed;
}

std::size_t backend::remove_entries(std::string_view function, std::span<const std::string> keys) {
    if (keys.empty()) return 0;
    const announced_change announced(*this, function, {}, report_to_sinks);
    const std::size_t removed = guarded("remove entries", [&] { return do_remove_entries(function, keys); });
    if (removed > 0) report_change({function, {}, change_kind::removed});
    return removed;
}

void backend::touch(std::string_view function, std::span<const std::string> keys) {
    if (keys.empty() || !capabilities_.records_last_use) return;
    guarded("record the use of entries", [&] { do_touch(function, keys); });
}

void backend::clear(std::string_view function) {
    const announced_change announced(*this, function, {}, report_to_sinks);
    guarded("clear a function's entries", [&] { do_clear(function); });
    report_change({function, {}, change_kind::cleared});
}

void backend::clear_claims(std::string_view function) {
    guarded("clear a function's claims", [&] { do_clear_claims(function); });
    report_change({function, {}, change_kind::claim_released});
}

std::size_t backend::remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) {
    const announced_change announced(*this, function, {}, report_to_sinks);
    const std::size_t removed = guarded("remove stale entries", [&] { return do_remove_older_than(function, max_age); });
    if (removed > 0) report_change({function, {}, change_kind::removed});
    return removed;
}

std::uint64_t backend::entry_count(std::string_view function) {
    return guarded("count entries", [&] { return do_entry_count(function); });
}

function_info backend::summary(std::string_view function) {
    return guarded("summarize a function", [&] { return do_summary(function); });
}

void backend::list_functions(const visitor<function_info>& visit) {
    guarded("list functions", [&] { do_list_functions(visit); });
}

void backend::summaries(const visitor<function_info>& visit) {
    guarded("summarize functions", [&] { do_summaries(visit); });
}

void backend::list_entries(std::string_view function, const visitor<entry_info>& visit) {
    guarded("list entries", [&] { do_list_entries(function, visit); });
}

std::optional<std::filesystem::path> backend::directory(std::string_view function) const {
    return do_directory(function);
}

void backend::watch(std::string_view function) {
    const std::lock_guard lock(watch_mutex_);
    auto it = std::find_if(watched_.begin(), watched_.end(), [&](const auto& w) { return w.first == function; });
    if (it != watched_.end()) {
        ++it->second;
        return;
    }
    guarded("watch a function", [&] { do_watch(function); });
    watched_.emplace_back(std::string(function), 1);
}

void backend::unwatch(std::string_view function) {
    const std::lock_guard lock(watch_mutex_);
    auto it = std::find_if(watched_.begin(), watched_.end(), [&](const auto& w) { return w.first == function; });
    if (it == watched_.end() || --it->second > 0) return;
    watched_.erase(it);
    try {
        do_unwatch(function);
    } catch (const std::exception&) {
        // Hearing a few more changes than asked is harmless.
    }
}

void backend::set_store_limits(const entry_limits& limits) noexcept {
    store_max_entries_.store(limits.max_entries.value_or(0), std::memory_order_relaxed);
    store_max_bytes_.store(limits.max_bytes.value_or(0), std::memory_order_relaxed);
}

entry_limits backend::store_limits() const noexcept {
    entry_limits limits;
    if (const auto n = store_max_entries_.load(std::memory_order_relaxed); n != 0) limits.max_entries = n;
    if (const auto n = store_max_bytes_.load(std::memory_order_relaxed); n != 0) limits.max_bytes = n;
    return limits;
}

void backend::add_change_sink(std::shared_ptr<change_sink> sink) {
    const std::unique_lock lock(sinks_mutex_);
    sinks_.push_back(std::move(sink));
}

void backend::remove_change_sink(const change_sink* sink) {
    const std::unique_lock lock(sinks_mutex_);
    std::erase_if(sinks_, [&](const auto& s) { return s.get() == sink; });
}

void backend::report_change(const change_event& event) noexcept {
    const std::shared_lock lock(sinks_mutex_);
    for (const auto& sink : sinks_) sink->on_change(event);
}

read_result backend::do_read_or_claim(const key_ref& ref, const claim_request& request) {
    read_result found = do_read(ref, request.max_age);
    if (found.fresh(request.max_age) || found.claim == claim_state::live) return found;
    if (!do_try_claim(ref, request.token, request.lease)) {
        found.claim = claim_state::live;
        return found;
    }
    // Another caller may have stored a value between the read and the claim.
    read_result again = do_read(ref, request.max_age);
    if (again.fresh(request.max_age)) {
        do_release_claim(ref, request.token);
        return again;
    }
    again.claimed = true;
    again.claim = claim_state::none;
    return again;
}

void backend::do_renew_claim(const key_ref&, const claim_token&, std::chrono::milliseconds) {}

std::size_t backend::do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) {
    std::vector<std::string> old;
    do_list_entries(function, [&](const entry_info& e) {
        if (e.has_value && e.age > max_age) old.push_back(e.key);
        return true;
    });
    std::size_t removed = 0;
    for (const auto& key : old) removed += do_remove(key_ref{function, key}) ? 1 : 0;
    return removed;
}

std::size_t backend::do_remove_entries(std::string_view function, std::span<const std::string> keys) {
    std::size_t removed = 0;
    for (const auto& key : keys) removed += do_remove(key_ref{function, key}) ? 1 : 0;
    return removed;
}

void backend::do_touch(std::string_view, std::span<const std::string>) {}

std::uint64_t backend::do_entry_count(std::string_view function) {
    std::uint64_t count = 0;
    do_list_entries(function, [&](const entry_info& e) {
        count += e.has_value ? 1 : 0;
        return true;
    });
    return count;
}

function_info backend::do_summary(std::string_view function) {
    function_info info;
    info.name = function;
    do_list_entries(function, [&](const entry_info& e) {
        if (!e.has_value) return true;
        info.add(e.size, e.age);
        return true;
    });
    return info;
}

void backend::do_summaries(const visitor<function_info>& visit) { do_list_functions(visit); }

std::optional<std::filesystem::path> backend::do_directory(std::string_view) const { return std::nullopt; }

void backend::do_watch(std::string_view) {}

void backend::do_unwatch(std::string_view) {}

}  // namespace cachier
