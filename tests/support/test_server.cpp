#include "test_server.hpp"

#include <array>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>

#include <unistd.h>

namespace cachier::test {
namespace {

std::string run(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
    std::array<char, 256> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) out += buffer.data();
    if (::pclose(pipe) != 0) throw std::runtime_error("failed: " + command);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

}  // namespace

test_server::test_server(std::string script, std::string extra_options)
    : script_(std::string(CACHIER_SOURCE_DIR) + "/scripts/" + std::move(script)), extra_(std::move(extra_options)) {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("cachier-server-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
            std::to_string(std::random_device{}() % 1000000));  // a reused pid never meets an old directory
    start();
}

test_server::~test_server() {
    try {
        stop();
    } catch (...) {
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

void test_server::start() {
    url_ = run("bash " + script_ + " start " + dir_.string() + " " + extra_);
    running_ = true;
}

void test_server::signal_all(int signal) const {
    // The main process's pid is the first line of its pid file (redis.pid, or PostgreSQL's
    // data/postmaster.pid); its children are found through /proc.
    pid_t main = 0;
    for (const char* file : {"redis.pid", "mongo.pid", "rgw.pid", "data/postmaster.pid"}) {
        std::ifstream in(dir_ / file);
        if (in >> main) break;
    }
    if (main <= 0) throw std::runtime_error("no pid file in " + dir_.string());
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::ifstream stat(entry.path() / "stat");
        std::string pid, name, state;
        pid_t parent = 0;
        if (stat >> pid >> name >> state >> parent && parent == main) ::kill(std::stoi(pid), signal);
    }
    ::kill(main, signal);
}

void test_server::stop() {
    if (!running_) return;
    run("bash " + script_ + " stop " + dir_.string());
    running_ = false;
}

}  // namespace cachier::test
