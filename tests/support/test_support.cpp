#include "test_support.hpp"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace cachier::test {

scratch_dir::scratch_dir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("cachier-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path_);
}

scratch_dir::~scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

worker_process::worker_process(const std::vector<std::string>& args) {
    std::vector<std::string> all{CACHIER_TEST_WORKER};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0)
        throw std::runtime_error("cannot start the test worker");
}

worker_process::~worker_process() {
    if (!reaped_) kill_hard();
}

int worker_process::wait() {
    if (!reaped_) {
        while (::waitpid(pid_, &status_, 0) < 0) {
            if (errno != EINTR) throw std::runtime_error("waitpid failed");
        }
        reaped_ = true;
    }
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    return 128 + WTERMSIG(status_);
}

bool worker_process::running() {
    if (reaped_) return false;
    const pid_t done = ::waitpid(pid_, &status_, WNOHANG);
    if (done == pid_) reaped_ = true;
    return !reaped_;
}

void worker_process::kill_hard() {
    if (reaped_) return;
    ::kill(pid_, SIGKILL);
    wait();
}

std::vector<std::string> read_lines(const std::filesystem::path& file) {
    std::vector<std::string> lines;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return condition();
}

std::int64_t wall_clock_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

log_capture::log_capture() {
    set_log_callback([state = state_](log_level level, std::string_view message) {
        const std::lock_guard lock(state->mutex);
        state->lines.emplace_back(level, std::string(message));
    });
}

log_capture::~log_capture() { reset_log_callback(); }

std::vector<std::string> log_capture::messages(log_level at_least) const {
    const std::lock_guard lock(state_->mutex);
    std::vector<std::string> out;
    for (const auto& [level, text] : state_->lines)
        if (level >= at_least) out.push_back(text);
    return out;
}

bool log_capture::contains(const std::string& fragment, log_level at_least) const {
    for (const auto& m : messages(at_least))
        if (m.find(fragment) != std::string::npos) return true;
    return false;
}

}  // namespace cachier::test
