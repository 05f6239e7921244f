#pragma once
// A composite backend for the suite: every operation goes to an inner backend, and the inner
// backend's change events (its own and those it hears from other processes) are forwarded to the
// composite's sinks, as a tier in front of a shared store must do.

#include <memory>

#include <cachier/backend.hpp>

namespace cachier::test {

class forwarding_backend final : public backend {
public:
    explicit forwarding_backend(std::shared_ptr<backend> inner)
        : backend("forwarding", forwarded_capabilities(*inner)), inner_(std::move(inner)),
          forward_(std::make_shared<forwarder>(*this)) {
        inner_->add_change_sink(forward_);
    }
    ~forwarding_backend() override {
        forward_->detach();
        inner_->remove_change_sink(forward_.get());
    }
    forwarding_backend(const forwarding_backend&) = delete;
    forwarding_backend& operator=(const forwarding_backend&) = delete;

protected:
    read_result do_read(const key_ref& ref, std::chrono::nanoseconds max_age) override {
        return inner_->read(ref, max_age);
    }
    read_result do_poll(const key_ref& ref, std::chrono::nanoseconds max_age) override {
        return inner_->poll(ref, max_age);
    }
    read_result do_read_or_claim(const key_ref& ref, const claim_request& request) override {
        return inner_->read_or_claim(ref, request);
    }
    bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        return inner_->try_claim(ref, token, lease);
    }
    void do_renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        inner_->renew_claim(ref, token, lease);
    }
    void do_release_claim(const key_ref& ref, const claim_token& token) override { inner_->release_claim(ref, token); }
    void do_store(const key_ref& ref, const store_request& request) override { inner_->store(ref, request); }
    bool do_remove(const key_ref& ref) override { return inner_->remove(ref); }
    std::size_t do_remove_entries(std::string_view function, std::span<const std::string> keys) override {
        return inner_->remove_entries(function, keys);
    }
    void do_touch(std::string_view function, std::span<const std::string> keys) override { inner_->touch(function, keys); }
    void do_clear(std::string_view function) override { inner_->clear(function); }
    void do_clear_claims(std::string_view function) override { inner_->clear_claims(function); }
    std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        return inner_->remove_older_than(function, max_age);
    }
    std::uint64_t do_entry_count(std::string_view function) override { return inner_->entry_count(function); }
    void do_list_functions(const visitor<function_info>& visit) override { inner_->list_functions(visit); }
    void do_list_entries(std::string_view function, const visitor<entry_info>& visit) override {
        inner_->list_entries(function, visit);
    }
    std::optional<std::filesystem::path> do_directory(std::string_view function) const override {
        return inner_->directory(function);
    }
    void do_watch(std::string_view function) override { inner_->watch(function); }
    void do_unwatch(std::string_view function) override { inner_->unwatch(function); }

private:
    static backend_capabilities forwarded_capabilities(const backend& inner) {
        backend_capabilities caps = inner.capabilities();
        caps.store_releases_claim = true;  // the inner backend's store already releases
        return caps;
    }

    /// The inner backend's sink: re-reports each event as the composite's.
    class forwarder final : public change_sink {
    public:
        explicit forwarder(forwarding_backend& owner) : owner_(&owner) {}
        void on_change(const change_event& event) noexcept override {
            const std::lock_guard lock(mutex_);
            if (owner_ != nullptr) owner_->report_change(event);
        }
        void detach() {
            const std::lock_guard lock(mutex_);
            owner_ = nullptr;
        }

    private:
        std::mutex mutex_;
        forwarding_backend* owner_;
    };

    std::shared_ptr<backend> inner_;
    std::shared_ptr<forwarder> forward_;
};

}  // namespace cachier::test
