#include "test_server.hpp"

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <unistd.h>

namespace cachier::test {
namespace {

/// The state letter of /proc/<pid>/stat (after the command name, which may hold spaces), or 0 when
/// the process is gone.
char process_state(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
    const auto name_end = line.rfind(')');
    return name_end == std::string::npos || name_end + 2 >= line.size() ? 0 : line[name_end + 2];
}

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
    std::vector<pid_t> signalled;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::ifstream stat(entry.path() / "stat");
        std::string pid, name, state;
        pid_t parent = 0;
        if (stat >> pid >> name >> state >> parent && parent == main) signalled.push_back(std::stoi(pid));
    }
    signalled.push_back(main);
    for (const pid_t pid : signalled) ::kill(pid, signal);
    if (signal != SIGSTOP) return;
    // kill() returns before the stop takes effect: a request sent meanwhile could still be answered.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (const pid_t pid : signalled) {
        while (std::chrono::steady_clock::now() < deadline) {
            const char state = process_state(pid);
            if (state == 0 || state == 'T' || state == 't') break;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
}

std::string fixture_server_url(const std::string& kind) {
    const char* servers = std::getenv("CACHIER_TEST_SERVERS");
    if (servers == nullptr || *servers == '\0') return {};
    const auto file = std::filesystem::path(servers) / kind / "url";
    std::ifstream in(file);
    std::string url;
    if (!std::getline(in, url) || url.empty())
        throw std::runtime_error("no " + kind + " test server: " + file.string() + " holds no URL");
    return url;
}

void test_server::stop() {
    if (!running_) return;
    run("bash " + script_ + " stop " + dir_.string());
    running_ = false;
}

}  // namespace cachier::test
