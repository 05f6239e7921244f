// cachier::serve_metrics(): GET /metrics answered with prometheus_text() by cpp-httplib, on a
// thread of the server's own. Builds without cpp-httplib throw config_error instead.

#include <atomic>
#include <cctype>
#include <chrono>
#include <thread>
#include <utility>

#include <cachier/errors.hpp>
#include <cachier/metrics_export.hpp>

#ifdef CACHIER_HAS_METRICS_SERVER
#include <httplib.h>
#include <sys/socket.h>
#endif

namespace cachier {
namespace {

struct listen_address {
    std::string host;
    int port = 0;
};

[[noreturn]] void bad_address(std::string_view address, const std::string& why) {
    throw config_error("serve_metrics: address \"" + std::string(address) + "\" " + why +
                       " (give host:port, e.g. 127.0.0.1:9464 or [::1]:9464; port 0 picks a free one)");
}

listen_address parse_address(std::string_view address) {
    listen_address out;
    std::string_view port;
    if (!address.empty() && address.front() == '[') {
        const auto close = address.find(']');
        if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':')
            bad_address(address, "is not [IPv6]:port");
        out.host = std::string(address.substr(1, close - 1));
        port = address.substr(close + 2);
    } else {
        const auto colon = address.rfind(':');
        if (colon == std::string_view::npos) bad_address(address, "has no port");
        out.host = std::string(address.substr(0, colon));
        port = address.substr(colon + 1);
        if (out.host.find(':') != std::string::npos) bad_address(address, "holds an IPv6 host without brackets");
    }
    if (out.host.empty()) bad_address(address, "has no host");
    if (port.empty() || port.size() > 5) bad_address(address, "has no port number");
    for (const char c : port)
        if (std::isdigit(static_cast<unsigned char>(c)) == 0) bad_address(address, "has a port that is not a number");
    out.port = std::stoi(std::string(port));
    if (out.port > 65535) bad_address(address, "has a port above 65535");
    return out;
}

}  // namespace

#ifdef CACHIER_HAS_METRICS_SERVER

struct metrics_server::impl {
    httplib::Server server;
    std::thread thread;
    std::atomic<bool> ended{false};  // listen_after_bind returned
    std::string host;
    std::uint16_t port = 0;

    ~impl() {
        server.stop();
        if (thread.joinable()) thread.join();
    }
};

metrics_server serve_metrics(std::string_view address) {
    const listen_address where = parse_address(address);
    auto state = std::make_unique<metrics_server::impl>();
    state->host = where.host;
    // Two threads answer: scrapes are rare and short.
    state->server.new_task_queue = [] { return new httplib::ThreadPool(2); };
    // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with which a second server on a
    // taken port would bind too and take half of the scrapes.
    state->server.set_socket_options([](int socket) {
        const int yes = 1;
        ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    state->server.Get("/metrics", [](const httplib::Request&, httplib::Response& response) {
        response.set_content(prometheus_text(), "text/plain; version=0.0.4; charset=utf-8");
    });
    const int port = where.port == 0 ? state->server.bind_to_any_port(where.host)
                                     : (state->server.bind_to_port(where.host, where.port) ? where.port : -1);
    if (port <= 0)
        throw config_error("serve_metrics: cannot listen on " + std::string(address) +
                           " (the port is taken, or the host is not an address of this machine)");
    state->port = static_cast<std::uint16_t>(port);
    metrics_server::impl& running = *state;
    state->thread = std::thread([&running] {
        running.server.listen_after_bind();
        running.ended = true;
    });
    // stop() only ends a server that is running: wait for it, so that destroying it right away works.
    while (!running.server.is_running() && !running.ended) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (running.ended) {
        state->thread.join();
        throw config_error("serve_metrics: the server on " + std::string(address) + " stopped as it started");
    }
    return metrics_server(std::move(state));
}

#else

struct metrics_server::impl {
    std::string host;
    std::uint16_t port = 0;
};

metrics_server serve_metrics(std::string_view address) {
    (void)parse_address(address);
    throw config_error("serve_metrics: this build of cachier has no HTTP server (Debian: apt-get install "
                       "libcpp-httplib-dev, then configure again with CACHIER_WITH_METRICS_SERVER=AUTO or ON)");
}

#endif

metrics_server::metrics_server(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
metrics_server::~metrics_server() = default;
metrics_server::metrics_server(metrics_server&&) noexcept = default;
metrics_server& metrics_server::operator=(metrics_server&&) noexcept = default;

std::uint16_t metrics_server::port() const noexcept { return impl_ ? impl_->port : 0; }

const std::string& metrics_server::host() const noexcept {
    static const std::string none;
    return impl_ ? impl_->host : none;
}

}  // namespace cachier
