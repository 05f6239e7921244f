#include "redis_server.hpp"

#include <array>
#include <cstdio>
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

redis_server::redis_server(std::string extra_options) : extra_(std::move(extra_options)) {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("cachier-redis-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    start();
}

redis_server::~redis_server() {
    try {
        stop();
    } catch (...) {
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

void redis_server::start() {
    url_ = run(std::string("bash ") + CACHIER_SOURCE_DIR + "/scripts/redis-server.sh start " + dir_.string() + " " +
               extra_);
    port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
    running_ = true;
}

void redis_server::stop() {
    if (!running_) return;
    run(std::string("bash ") + CACHIER_SOURCE_DIR + "/scripts/redis-server.sh stop " + dir_.string());
    running_ = false;
}

}  // namespace cachier::test
