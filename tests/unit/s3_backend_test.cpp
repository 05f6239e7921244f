// What only the S3 backend must do, against a real S3 server (Ceph's RADOS Gateway,
// scripts/s3-server.sh): processes racing on one cold key, a gateway restarted mid-run, refused
// credentials.

#include <atomic>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/test_server.hpp"
#include "../support/test_support.hpp"
#include "backends/s3/s3_http.hpp"
#include "sql_test_support.hpp"

using namespace std::chrono_literals;
using cachier::test::s3_server;

namespace {

constexpr const char* bucket = "backend-test";

/// Creates the test bucket (again, after a restart: the test server keeps nothing).
void make_bucket(const std::string& endpoint) {
    cachier::s3_backend_options o;
    o.bucket = bucket;
    o.endpoint = endpoint;
    cachier::detail::s3::s3_http http(cachier::detail::s3::resolve(o));
    cachier::detail::s3::s3_request r;
    r.method = "PUT";
    const auto made = http.send(r, "create the test bucket");
    ASSERT_TRUE(made.status == 200 || made.status == 409) << made.status;
}

std::string url_of(const s3_server& server, const std::string& prefix, const std::string& extra = "") {
    return std::string("s3://") + bucket + "/" + prefix + "?endpoint=" + server.url() + extra;
}

cachier::options on(const std::string& url) {
    cachier::options o;
    o.backend = cachier::backend_from_url(url);
    o.enable_metrics = true;
    return o;
}

class S3Backend : public testing::Test {
protected:
    static void SetUpTestSuite() {
        // The test server's credentials, as the AWS tools take them (worker processes inherit them).
        ::setenv("AWS_ACCESS_KEY_ID", "cachier-test-key", 1);
        ::setenv("AWS_SECRET_ACCESS_KEY", "cachier-test-secret", 1);
    }
};

}  // namespace

TEST_F(S3Backend, SixProcessesRacingOnAColdKeyComputeItOnce) {
    s3_server server;
    make_bucket(server.url());
    cachier::test::scratch_dir scratch;
    cachier::test::sql::race_six_processes(url_of(server, "race"), scratch.path() / "calls.log");
}

TEST_F(S3Backend, GatewayRestartedMidRunLosesNoCall) {
    cachier::test::log_capture logs;
    s3_server server;
    make_bucket(server.url());
    auto f = cachier::cachier("s3.restart", [](int x) { return x * 7; },
                              on(url_of(server, "restart", "&request_timeout=500ms&connect_timeout=300ms")));
    const auto [calls, wrong] = cachier::test::call_through(f, [&] {
        std::this_thread::sleep_for(300ms);
        server.stop();
        std::this_thread::sleep_for(400ms);
        server.start();  // an empty cluster on the same port: the bucket is made again, as an operator would
        make_bucket(server.url());
        std::this_thread::sleep_for(1000ms);
    });
    cachier::test::expect_outage_survived(f, {calls, wrong}, logs.messages(cachier::log_level::warning));
}

TEST_F(S3Backend, AWrongSecretIsReportedWithTheAccessKeyIdAndNeverTheSecret) {
    cachier::test::log_capture logs;
    s3_server server;
    make_bucket(server.url());
    cachier::s3_backend_options o;
    o.bucket = bucket;
    o.endpoint = server.url();
    o.access_key_id = "cachier-test-key";
    o.secret_access_key = "hunter2-wrong";
    cachier::options opts;
    opts.backend = cachier::s3_backend(o);
    opts.enable_metrics = true;
    auto f = cachier::cachier("s3.wrong_secret", [](int x) { return x + 1; }, opts);
    EXPECT_EQ(f(1), 2);
    EXPECT_EQ(f(1), 2);
    EXPECT_GE(f.metrics().backend_errors, 2U);
    bool named = false;
    for (const auto& m : logs.messages(cachier::log_level::warning)) {
        EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
        if (m.find("cachier-test-key") != std::string::npos && m.find("SignatureDoesNotMatch") != std::string::npos)
            named = true;
    }
    EXPECT_TRUE(named) << "no warning names the refused access key id";
}

namespace {

/// Calls f(1) twice, with a value of `bytes`, and checks it was returned both times, computed
/// both times (nothing stored), reported with `reason`, and that the key's claim was released
/// (a small value of the same backend is then stored and hit).
void expect_big_value_returned_and_reported(const std::string& url, std::size_t bytes, const std::string& reason) {
    cachier::test::log_capture logs;
    std::atomic<int> calls{0};
    const auto store = on(url);
    auto f = cachier::cachier(
        "s3.big",
        [&](int x) {
            ++calls;
            return std::string(bytes, static_cast<char>('a' + x));
        },
        store);
    EXPECT_EQ(f(1).size(), bytes);
    EXPECT_EQ(f(1).size(), bytes);
    EXPECT_EQ(calls, 2) << "a value over the limit cannot be stored, and is computed each time";
    EXPECT_GE(f.metrics().backend_errors, 2U);
    bool reported = false;
    for (const auto& m : logs.messages(cachier::log_level::warning))
        reported = reported || m.find(reason) != std::string::npos;
    EXPECT_TRUE(reported) << "no warning says " << reason;
    auto small = cachier::cachier("s3.big_small", [](int x) { return x; }, store);
    EXPECT_EQ(small(3), 3);
    EXPECT_EQ(small(3), 3);
    EXPECT_EQ(small.metrics().hits, 1U) << "small values are still stored";
}

}  // namespace

TEST_F(S3Backend, ValueOverMaxObjectSizeIsReturnedAndReportedBeforeItIsSent) {
    s3_server server;
    make_bucket(server.url());
    expect_big_value_returned_and_reported(url_of(server, "big_client", "&max_object_size=1MiB"), 2U << 20,
                                           "one PUT stores at most 1048576");
}

TEST_F(S3Backend, ValueTheServerRefusesAsTooLargeIsReturnedAndReported) {
    s3_server server;  // its gateway takes 16 MiB in one PUT (rgw max put size)
    make_bucket(server.url());
    expect_big_value_returned_and_reported(url_of(server, "big_server"), 17U << 20, "EntityTooLarge");
}
