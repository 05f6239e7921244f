#pragma once
// A real server on 127.0.0.1 for one test process, started and stopped with one of the project's
// scripts (scripts/redis-server.sh, scripts/postgres-server.sh).

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>

namespace cachier::test {

class test_server {
public:
    /// Starts `script` (a file in scripts/) with extra server options.
    test_server(std::string script, std::string extra_options);
    ~test_server();
    test_server(const test_server&) = delete;
    test_server& operator=(const test_server&) = delete;

    /// The URL the script printed, e.g. redis://127.0.0.1:PORT.
    [[nodiscard]] const std::string& url() const noexcept { return url_; }
    void stop();
    /// Starts again on the same port, with the same data where the server keeps any.
    void start();
    /// Sends `signal` to the server's main process and its children (SIGSTOP: a server that
    /// stops answering without closing its connections; SIGCONT resumes it).
    void signal_all(int signal) const;

private:
    std::string script_;
    std::filesystem::path dir_;
    std::string extra_;
    std::string url_;
    bool running_ = false;
};

/// A redis-server without persistence.
class redis_server : public test_server {
public:
    explicit redis_server(std::string extra_options = "") : test_server("redis-server.sh", std::move(extra_options)) {}
};

/// The project's MongoDB wire-protocol server over mongomock (scripts/mongo_server.py); options
/// such as "--replica-set rs0" or "--ttl-monitor 0.2" go to it.
class mongo_server : public test_server {
public:
    explicit mongo_server(std::string extra_options = "") : test_server("mongo-server.sh", std::move(extra_options)) {}
};

/// A one-node Ceph cluster with its RADOS Gateway (scripts/s3-server.sh); url() is the endpoint,
/// http://127.0.0.1:PORT, and the gateway's user has the script's test credentials.
class s3_server : public test_server {
public:
    s3_server() : test_server("s3-server.sh", "") {}
};

/// A PostgreSQL 15 cluster with a database cachier_test.
class postgres_server : public test_server {
public:
    postgres_server() : test_server("postgres-server.sh", "") {}
};

/// The URL of the server of `kind` (redis, postgres, mongo, mongo_rs) that a CTest fixture started
/// for the whole run (scripts/test-server-fixture.sh, in $CACHIER_TEST_SERVERS/<kind>), or empty
/// when CACHIER_TEST_SERVERS is not set.
std::string fixture_server_url(const std::string& kind);

/// The server of one kind that a test process uses: the one its CTest fixture started for every
/// test of the run (fixture_server_url), or else one of its own, started at first use and stopped
/// by stop() or at exit. A shared server saves starting one per test (CTest runs each test in its
/// own process); each test keeps to its own keys, tables or collections on it.
template <class Server>
class server_for_tests {
public:
    /// `kind`: the fixture's server (fixture_server_url); `options`: for a server of its own.
    explicit server_for_tests(std::string kind, std::string options = "")
        : kind_(std::move(kind)), options_(std::move(options)) {}

    /// Where the server listens.
    const std::string& url() {
        std::lock_guard lock(mutex_);
        if (url_.empty()) url_ = fixture_server_url(kind_);
        if (url_.empty()) {
            if constexpr (std::is_constructible_v<Server, std::string>) own_ = std::make_unique<Server>(options_);
            else own_ = std::make_unique<Server>();
            url_ = own_->url();
        }
        return url_;
    }

    /// Stops a server of its own (a shared one is the fixture's to stop).
    void stop() {
        std::lock_guard lock(mutex_);
        own_.reset();
        url_.clear();
    }

private:
    std::string kind_;
    std::string options_;
    std::mutex mutex_;
    std::string url_;
    std::unique_ptr<Server> own_;
};

}  // namespace cachier::test
