// The metrics export: prometheus_text() (counters, histogram, escaping, names added up and kept),
// checked by promtool, and serve_metrics() scraped over HTTP with curl, also while cached functions
// run and come and go on other threads.

#include <atomic>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/test_support.hpp"

namespace {

cachier::options with_metrics(bool on = true) {
    cachier::options o;
    o.backend = cachier::memory_backend();
    o.enable_metrics = on;
    return o;
}

/// The value of the one sample line that starts with `series` ("name{labels}"), or -1.
double sample_of(const std::string& text, const std::string& series) {
    std::size_t at = 0;
    while ((at = text.find(series + " ", at)) != std::string::npos) {
        if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
        ++at;
    }
    return -1;
}

/// What a shell command printed, and its exit status.
std::pair<std::string, int> run(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return {"", -1};
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
    const int status = ::pclose(pipe);
    return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

}  // namespace

TEST(PrometheusText, CountsHitsMissesAndLatenciesPerFunction) {
    auto f = cachier::cachier("metrics.counts", [](int x) { return x * 2; }, with_metrics());
    auto hidden = cachier::cachier("metrics.off", [](int x) { return x; }, with_metrics(false));
    for (int i = 0; i < 3; ++i) (void)f(1);
    (void)f(2);
    (void)hidden(1);
    const std::string text = cachier::prometheus_text();
    const std::string label = "{function=\"metrics.counts\"}";
    EXPECT_EQ(sample_of(text, "cachier_calls_total" + label), 4);
    EXPECT_EQ(sample_of(text, "cachier_hits_total" + label), 2);
    EXPECT_EQ(sample_of(text, "cachier_misses_total" + label), 2);
    EXPECT_EQ(sample_of(text, "cachier_recalculations_total" + label), 2);
    EXPECT_EQ(sample_of(text, "cachier_call_duration_seconds_count" + label), 4);
    EXPECT_GT(sample_of(text, "cachier_call_duration_seconds_sum" + label), 0);
    EXPECT_EQ(sample_of(text, "cachier_call_duration_seconds_bucket{function=\"metrics.counts\",le=\"+Inf\"}"), 4);
    EXPECT_EQ(sample_of(text, "cachier_entries" + label), 2) << "the memory backend counts cheaply";
    EXPECT_EQ(text.find("metrics.off"), std::string::npos) << "a function without metrics is not exported";
    EXPECT_NE(text.find("# TYPE cachier_hits_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE cachier_call_duration_seconds histogram\n"), std::string::npos);
    // Buckets are cumulative: never fewer calls under a larger bound.
    const std::string bucket_prefix = "cachier_call_duration_seconds_bucket{function=\"metrics.counts\",le=\"";
    double previous = 0;
    int buckets = 0;
    for (auto at = text.find(bucket_prefix); at != std::string::npos; at = text.find(bucket_prefix, at + 1), ++buckets) {
        const auto value_at = text.find("} ", at) + 2;
        const double n = std::stod(text.substr(value_at, text.find('\n', value_at) - value_at));
        EXPECT_GE(n, previous);
        previous = n;
    }
    EXPECT_EQ(buckets, 25);
}

TEST(PrometheusText, CountsFunctionErrorsAndTheStaleValuesServedForThem) {
    std::atomic<bool> failing{false};
    auto o = with_metrics();
    o.stale_after = std::chrono::milliseconds(20);
    o.stale_if_error = std::chrono::hours(1);
    auto f = cachier::cachier("metrics.errors", [&](int x) { return failing ? throw std::runtime_error("down") : x; }, o);
    EXPECT_EQ(f(1), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    failing = true;
    EXPECT_EQ(f(1), 1);
    EXPECT_THROW((void)f(2), std::runtime_error);
    const std::string text = cachier::prometheus_text();
    const std::string label = "{function=\"metrics.errors\"}";
    EXPECT_EQ(sample_of(text, "cachier_function_errors_total" + label), 2);
    EXPECT_EQ(sample_of(text, "cachier_stale_if_error_hits_total" + label), 1);
}

TEST(PrometheusText, NamesOfAnyBytesAreEscapedAsTheFormatAsks) {
    const std::string name = std::string("odd \"name\" \\ with\nnewline and \xFF byte");
    auto f = cachier::cachier(name, [](int x) { return x; }, with_metrics());
    (void)f(1);
    const std::string text = cachier::prometheus_text();
    EXPECT_NE(text.find("cachier_calls_total{function=\"odd \\\"name\\\" \\\\ with\\nnewline and \xEF\xBF\xBD byte\"} 1"),
              std::string::npos)
        << text.substr(0, 2000);
}

TEST(PrometheusText, CopiesUnderOneNameAddUpAndGoneOnesKeepTheirCounts) {
    const std::string label = "{function=\"metrics.shared\"}";
    {
        auto a = cachier::cachier("metrics.shared", [](int x) { return x; }, with_metrics());
        auto b = cachier::cachier("metrics.shared", [](int x) { return x; }, with_metrics());
        (void)a(1);
        (void)b(1);
        EXPECT_EQ(sample_of(cachier::prometheus_text(), "cachier_calls_total" + label), 2);
    }
    EXPECT_EQ(sample_of(cachier::prometheus_text(), "cachier_calls_total" + label), 2)
        << "counters must not go down when a function is destroyed";
    auto c = cachier::cachier("metrics.shared", [](int x) { return x; }, with_metrics());
    (void)c(1);
    EXPECT_EQ(sample_of(cachier::prometheus_text(), "cachier_calls_total" + label), 3);
}

TEST(PrometheusText, PromtoolAcceptsTheExposition) {
    auto f = cachier::cachier("metrics.promtool", [](int x) { return x; }, with_metrics());
    auto g = cachier::cachier("metrics.promtool \"quoted\"\n", [](int x) { return x; }, with_metrics());
    for (int i = 0; i < 5; ++i) (void)f(i % 2), (void)g(i);
    cachier::test::scratch_dir dir;
    const auto file = dir.path() / "metrics.txt";
    std::ofstream(file) << cachier::prometheus_text();
    const auto [out, status] = run("promtool check metrics < " + file.string() + " 2>&1");
    EXPECT_EQ(status, 0) << "promtool (Debian: prometheus) refused the exposition:\n" << out;
}

TEST(MetricsServer, AnswersScrapesOverHttpUntilDestroyed) {
    auto f = cachier::cachier("metrics.served", [](int x) { return x; }, with_metrics());
    (void)f(1);
    std::string url;
    {
        const cachier::metrics_server server = cachier::serve_metrics("127.0.0.1:0");
        ASSERT_GT(server.port(), 0);
        EXPECT_EQ(server.host(), "127.0.0.1");
        url = "http://127.0.0.1:" + std::to_string(server.port());
        const auto [body, status] = run("curl -sS -D - " + url + "/metrics");
        EXPECT_EQ(status, 0);
        EXPECT_NE(body.find("200 OK"), std::string::npos) << body.substr(0, 500);
        EXPECT_NE(body.find("text/plain; version=0.0.4"), std::string::npos);
        EXPECT_NE(body.find("cachier_calls_total{function=\"metrics.served\"} 1"), std::string::npos);
        const auto [other, other_status] = run("curl -s -o /dev/null -w '%{http_code}' " + url + "/other");
        EXPECT_EQ(other, "404");
    }
    const auto [after, status] = run("curl -s --max-time 2 " + url + "/metrics");
    EXPECT_NE(status, 0) << "the server still answers after it was destroyed";
}

TEST(MetricsServer, BadOrTakenAddressesAreClearErrors) {
    for (const char* address : {"localhost", "127.0.0.1:", ":9464", "127.0.0.1:99999", "127.0.0.1:http", "[::1",
                                "::1:9464", "192.0.2.1:9464"}) {
        try {
            (void)cachier::serve_metrics(address);
            ADD_FAILURE() << address << " was accepted";
        } catch (const cachier::config_error& e) {
            EXPECT_NE(std::string(e.what()).find(address), std::string::npos) << e.what();
        }
    }
    const cachier::metrics_server first = cachier::serve_metrics("127.0.0.1:0");
    const std::string taken = "127.0.0.1:" + std::to_string(first.port());
    EXPECT_THROW((void)cachier::serve_metrics(taken), cachier::config_error);
}

TEST(MetricsServer, ConcurrentScrapesWhileFunctionsRunAndComeAndGo) {
    const cachier::metrics_server server = cachier::serve_metrics("127.0.0.1:0");
    const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/metrics";
    std::atomic<bool> stop{false};
    std::vector<std::thread> callers;
    for (int t = 0; t < 2; ++t) {
        callers.emplace_back([&, t] {
            auto f = cachier::cachier("metrics.busy", [](int x) { return x + 1; }, with_metrics());
            for (int i = 0; !stop; ++i) {
                (void)f(i % 50);
                if (i % 200 == 0) {  // functions made and destroyed while scrapes read them
                    auto g = cachier::cachier("metrics.brief" + std::to_string(t), [](int x) { return x; },
                                              with_metrics());
                    (void)g(i);
                }
            }
        });
    }
    std::vector<std::thread> scrapers;
    std::atomic<int> good{0};
    for (int s = 0; s < 2; ++s) {
        scrapers.emplace_back([&] {
            for (int i = 0; i < 10; ++i) {
                const auto [body, status] = run("curl -s " + url);
                if (status == 0 && body.find("cachier_calls_total{function=\"metrics.busy\"}") != std::string::npos)
                    ++good;
                (void)cachier::prometheus_text();
            }
        });
    }
    for (auto& t : scrapers) t.join();
    stop = true;
    for (auto& t : callers) t.join();
    EXPECT_EQ(good, 20);
}
