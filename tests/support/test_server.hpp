#pragma once
// A real server on 127.0.0.1 for one test process, started and stopped with one of the project's
// scripts (scripts/redis-server.sh, scripts/postgres-server.sh).

#include <filesystem>
#include <string>

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

}  // namespace cachier::test
