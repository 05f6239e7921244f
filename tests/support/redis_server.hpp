#pragma once
// A real redis-server on 127.0.0.1 for one test process, started and stopped with the project's
// scripts/redis-server.sh.

#include <filesystem>
#include <string>

namespace cachier::test {

class redis_server {
public:
    /// Starts a server with extra redis-server options (e.g. "--requirepass secret").
    explicit redis_server(std::string extra_options = "");
    ~redis_server();
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    /// redis://127.0.0.1:PORT
    [[nodiscard]] const std::string& url() const noexcept { return url_; }
    [[nodiscard]] int port() const noexcept { return port_; }
    void stop();
    /// Starts again on the same port, empty.
    void start();

private:
    std::filesystem::path dir_;
    std::string extra_;
    std::string url_;
    int port_ = 0;
    bool running_ = false;
};

}  // namespace cachier::test
