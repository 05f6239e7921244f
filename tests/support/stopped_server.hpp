#pragma once
// A server that stops answering, for the tests of each network backend's command timeout.

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace cachier::test {

/// Checks that calls of `f` while `server` is stopped (SIGSTOP: it neither answers nor closes its
/// connections) return the function's value within `bound` each, and that it stores again once the
/// server resumes. f(x) must return x * 3.
template <class F, class Server>
void expect_stopped_server_costs_at_most(F& f, Server& server, std::chrono::milliseconds first_bound,
                                         std::chrono::milliseconds later_bound) {
    EXPECT_EQ(f(1), 3);  // connections are open and warm
    server.signal_all(SIGSTOP);
    struct resume {
        Server& s;
        ~resume() { s.signal_all(SIGCONT); }
    } resume_at_end{server};
    std::int64_t result = 0;
    const auto miss = time_of([&] { result = f(2); });
    EXPECT_LE(miss.count(), first_bound.count()) << "a miss on a stopped server";
    EXPECT_EQ(result, 6);
    const auto next = time_of([&] { result = f(1); });
    EXPECT_LE(next.count(), later_bound.count()) << "a call after its connection was dropped";
    EXPECT_EQ(result, 3);
    std::printf("stopped server: a miss took %lld ms, the next call %lld ms\n", static_cast<long long>(miss.count()),
                static_cast<long long>(next.count()));
}

}  // namespace cachier::test
