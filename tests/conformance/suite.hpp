#pragma once
// The conformance suite: the semantics every backend shares (../shared design, "The semantics").
// A backend joins by instantiating it once, e.g. in redis.cpp:
//   INSTANTIATE_TEST_SUITE_P(redis, Conformance, testing::Values(redis_under_test()), backend_name);

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/test_support.hpp"

namespace cachier::test {

/// How the suite makes the backend under test.
struct backend_under_test {
    std::string name;
    /// A new backend whose storage lives in (or is named after) `scratch`.
    std::function<std::shared_ptr<backend>(const std::filesystem::path& scratch)> make;
    /// The URL of the same storage for other processes; empty when it cannot be shared between them.
    std::function<std::string(const std::filesystem::path& scratch)> url;
};

/// Prints the backend's name in test output instead of the parameter's bytes.
inline void PrintTo(const backend_under_test& b, std::ostream* os) { *os << b.name; }

inline std::string backend_name(const testing::TestParamInfo<backend_under_test>& info) { return info.param.name; }

class Conformance : public testing::TestWithParam<backend_under_test> {
protected:
    void SetUp() override;
    void TearDown() override;

    /// Options with the backend under test set.
    [[nodiscard]] options base_options() const;
    /// A function name unique to this test.
    [[nodiscard]] std::string fn_name(const std::string& suffix = "") const;
    [[nodiscard]] bool shared_between_processes() const { return static_cast<bool>(GetParam().url); }
    [[nodiscard]] std::string url() const { return GetParam().url(scratch_.path()); }
    /// How soon after another process's store a waiter must return: 20 ms where the storage
    /// pushes changes or is polled at least every 16 ms (file, Redis, PostgreSQL, SQLite); one
    /// longest poll interval more where it is polled sparingly to spare the server (MongoDB
    /// without change streams).
    [[nodiscard]] std::chrono::nanoseconds wake_up_bound() const {
        const auto& caps = backend_->capabilities();
        if (caps.pushes_changes || caps.max_poll_interval <= std::chrono::milliseconds(16))
            return std::chrono::milliseconds(20);
        return caps.max_poll_interval + std::chrono::milliseconds(20);
    }

    /// How long a change made by another process (or another backend object on the same storage)
    /// may go unseen here: for a tiered backend, the tier's bound where the storage pushes no changes
    /// (plus the coarse clock's tick), or the 20 ms a pushed change may take; zero otherwise.
    [[nodiscard]] std::chrono::nanoseconds unseen_change_bound() const {
        const auto& caps = backend_->capabilities();
        if (!caps.keeps_values_in_process || !caps.shared_between_processes) return std::chrono::nanoseconds::zero();
        if (caps.pushes_changes) return std::chrono::milliseconds(20);
        return caps.in_process_max_age + std::chrono::milliseconds(10);
    }

    /// The median, over three trials, of how long a call of `f` waiting for another process's
    /// computation of the same key (f's name, arguments 0..2) takes to return after that process
    /// stored the value.
    template <class F>
    std::int64_t median_wake_up_delay_ns(F& f) {
        std::vector<std::int64_t> delays;
        for (int trial = 0; trial < 3; ++trial) {
            const auto log = scratch_.path() / ("wake" + std::to_string(trial) + ".log");
            worker_process computing({"compute", url(), f.name(), std::to_string(trial), "400", log.string()});
            if (!eventually([&] { return !read_lines(log).empty(); }, std::chrono::seconds(10))) return -1;
            EXPECT_EQ(f(trial), trial * 2);
            const std::int64_t woke = wall_clock_ns();
            EXPECT_EQ(computing.wait(), 0);
            const auto lines = read_lines(log);
            if (lines.size() != 2U) return -1;
            delays.push_back(woke - std::stoll(lines[1].substr(lines[1].find(' ') + 1)));
        }
        std::sort(delays.begin(), delays.end());
        return delays[1];
    }

    scratch_dir scratch_;
    std::shared_ptr<backend> backend_;
};

}  // namespace cachier::test
