// The non-virtual parts of cachier::backend: in-process change notification and defaults.

#include <functional>

#include "change_notifier.hpp"

namespace cachier {
namespace detail {

change_notifier::stripe& change_notifier::stripe_for(const key_ref& ref) const noexcept {
    // Only picks a stripe inside this process; never part of a stored key.
    return stripes_[std::hash<std::string_view>{}(ref.key) % stripe_count];
}

void change_notifier::notify(const key_ref& ref) noexcept {
    stripe& s = stripe_for(ref);
    {
        const std::lock_guard lock(s.mutex);
        s.generation.fetch_add(1, std::memory_order_acq_rel);
    }
    s.changed.notify_all();
}

std::uint64_t change_notifier::generation(const key_ref& ref) const noexcept {
    return stripe_for(ref).generation.load(std::memory_order_acquire);
}

void change_notifier::wait(const key_ref& ref, std::uint64_t seen,
                           std::chrono::steady_clock::time_point deadline) const {
    stripe& s = stripe_for(ref);
    std::unique_lock lock(s.mutex);
    s.changed.wait_until(lock, deadline, [&] { return s.generation.load(std::memory_order_acquire) != seen; });
}

}  // namespace detail

backend::backend() : notifier_(std::make_unique<detail::change_notifier>()) {}
backend::~backend() = default;

void backend::renew_claim(const key_ref&, const claim_token&, std::chrono::milliseconds) {}

std::optional<std::uint64_t> backend::entry_count(std::string_view) { return std::nullopt; }

std::optional<std::filesystem::path> backend::directory(std::string_view) const { return std::nullopt; }

std::chrono::milliseconds backend::max_poll_interval() const noexcept { return std::chrono::milliseconds(1000); }

void backend::notify_change(const key_ref& ref) noexcept { notifier_->notify(ref); }

std::uint64_t backend::change_generation(const key_ref& ref) const noexcept { return notifier_->generation(ref); }

void backend::wait_for_change(const key_ref& ref, std::uint64_t seen,
                              std::chrono::steady_clock::time_point deadline) const {
    notifier_->wait(ref, seen, deadline);
}

}  // namespace cachier
