#pragma once
// Helpers shared by the tests: scratch directories, real child processes, captured log messages.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

namespace cachier::test {

/// A fresh directory under the system temp dir, removed on destruction.
class scratch_dir {
public:
    scratch_dir();
    ~scratch_dir();
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

/// A child process running the test worker (tests/support/worker.cpp) with the given arguments.
class worker_process {
public:
    explicit worker_process(const std::vector<std::string>& args);
    ~worker_process();
    worker_process(const worker_process&) = delete;
    worker_process& operator=(const worker_process&) = delete;

    /// Waits for the exit; returns the exit status (or 128 + signal).
    int wait();
    /// Whether the process still runs (reaps it, keeping its status for wait(), once it ended).
    bool running();
    /// Sends SIGKILL and reaps the process.
    void kill_hard();
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

private:
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = 0;
};

/// The lines of a text file (empty when it does not exist).
std::vector<std::string> read_lines(const std::filesystem::path& file);

/// Polls until `condition` holds or `timeout` passes; returns whether it held.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

/// Nanoseconds since the Unix epoch: comparable between processes.
std::int64_t wall_clock_ns();

/// How long `action` takes.
template <class Action>
std::chrono::milliseconds time_of(Action&& action) {
    const auto start = std::chrono::steady_clock::now();
    action();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}


/// Calls `f(i)` (expecting `i * 7`) every 2 ms on another thread while `disrupt` runs (for example
/// stopping and restarting a server); returns how many calls were made and how many were wrong.
template <class F>
std::pair<int, int> call_through(F& f, const std::function<void()>& disrupt) {
    std::atomic<bool> done{false};
    int calls = 0;
    int wrong = 0;
    std::thread caller([&] {
        for (int i = 0; !done; i = (i + 1) % 20) {
            if (f(i) != i * 7) ++wrong;
            ++calls;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    disrupt();
    done = true;
    caller.join();
    return {calls, wrong};
}

/// After call_through: no call returned a wrong value, the outage was reported (metrics and a
/// warning in `warnings`), and `f` uses its storage again by itself (f(1000) hits within 5 s).
template <class F>
void expect_outage_survived(F& f, std::pair<int, int> calls_and_wrong, const std::vector<std::string>& warnings) {
    EXPECT_EQ(calls_and_wrong.second, 0);
    EXPECT_GT(calls_and_wrong.first, 20);
    EXPECT_GT(f.metrics().backend_errors, 0U) << "the outage was not reported";
    EXPECT_FALSE(warnings.empty());
    EXPECT_TRUE(eventually(
        [&] {
            const auto hits = f.metrics().hits;
            return f(1000) == 7000 && f(1000) == 7000 && f.metrics().hits > hits;
        },
        std::chrono::seconds(5)))
        << "did not reconnect by itself";
}

/// Collects log messages while alive, and restores the default callback afterwards.
class log_capture {
public:
    log_capture();
    ~log_capture();
    log_capture(const log_capture&) = delete;
    log_capture& operator=(const log_capture&) = delete;
    [[nodiscard]] std::vector<std::string> messages(log_level at_least = log_level::warning) const;
    [[nodiscard]] bool contains(const std::string& fragment, log_level at_least = log_level::debug) const;

private:
    struct shared {
        std::mutex mutex;
        std::vector<std::pair<log_level, std::string>> lines;
    };
    std::shared_ptr<shared> state_ = std::make_shared<shared>();
};

}  // namespace cachier::test
