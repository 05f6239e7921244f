#pragma once
/// @file metrics_export.hpp
/// @brief Every cached function's metrics in the Prometheus text format, and a small HTTP server
/// that serves them to a scraper.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace cachier {

/// The metrics of every cached function of this process that has `enable_metrics` on, in the
/// Prometheus text exposition format (version 0.0.4): counters `cachier_<what>_total`, the latency
/// histogram `cachier_call_duration_seconds` (of the sampled calls), and the gauge
/// `cachier_entries` where the backend counts cheaply; each series labelled with the function's
/// name (`function="..."`). Copies of a function under one name are added up, and a destroyed
/// function's counts stay, so that counters never go down while the process lives.
[[nodiscard]] std::string prometheus_text();

/// A small HTTP server answering `GET /metrics` with prometheus_text(), on a thread of its own,
/// until it is destroyed. Made by serve_metrics().
class metrics_server {
public:
    /// Stops serving and waits for the server's thread.
    ~metrics_server();
    /// Moves the server; the moved-from object serves nothing.
    metrics_server(metrics_server&&) noexcept;
    /// Stops this server and takes over `other`'s.
    metrics_server& operator=(metrics_server&&) noexcept;
    metrics_server(const metrics_server&) = delete;
    metrics_server& operator=(const metrics_server&) = delete;

    /// The port it listens on (the one chosen when the address asked for port 0).
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// The host it listens on, as given.
    [[nodiscard]] const std::string& host() const noexcept;

    /// The server's state; private to the implementation.
    struct impl;

private:
    explicit metrics_server(std::unique_ptr<impl> state);
    friend metrics_server serve_metrics(std::string_view address);
    std::unique_ptr<impl> impl_;
};

/// Serves prometheus_text() at `http://ADDRESS/metrics`. `address` is `host:port`
/// ("127.0.0.1:9464", "0.0.0.0:9464", "[::1]:9464"; port 0 picks a free one). Throws config_error
/// for a malformed address or one it cannot listen on (taken, not of this machine), and
/// config_error in builds without the HTTP server (libcpp-httplib-dev).
[[nodiscard]] metrics_server serve_metrics(std::string_view address);

}  // namespace cachier
