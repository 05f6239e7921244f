// The S3 backend's HTTP layer against a real S3 server (Ceph's RADOS Gateway, scripts/s3-server.sh):
// signed requests on kept-alive connections, conditional writes, keys of any UTF-8, and failures
// that name the access key id but never the secret.

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <cachier/errors.hpp>

#include "../support/test_server.hpp"
#include "backends/s3/s3_http.hpp"

using namespace std::chrono_literals;
using cachier::detail::s3::s3_http;
using cachier::detail::s3::s3_request;

namespace {

// The credentials of the test server's one user (scripts/s3-server.sh).
constexpr const char* test_key = "cachier-test-key";
constexpr const char* test_secret = "cachier-test-secret";

cachier::detail::s3::s3_settings settings_for(const std::string& endpoint, const std::string& bucket,
                                              const std::string& secret = test_secret) {
    cachier::detail::s3::s3_settings s;
    s.bucket = bucket;
    s.endpoint = endpoint;
    s.region = "us-east-1";
    s.access_key_id = test_key;
    s.secret_access_key = secret;
    s.request_timeout = 2s;
    s.connect_timeout = 500ms;
    return s;
}

s3_request put(std::string key, std::string_view body, std::vector<std::string> headers = {}) {
    s3_request r;
    r.method = "PUT";
    r.key = std::move(key);
    r.body = body;
    r.headers = std::move(headers);
    return r;
}

s3_request get(std::string key) {
    s3_request r;
    r.key = std::move(key);
    return r;
}

class S3Http : public testing::Test {
protected:
    static void SetUpTestSuite() { server_ = new cachier::test::s3_server(); }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }
    void SetUp() override {
        http_ = std::make_unique<s3_http>(settings_for(server_->url(), "http-test"));
        const auto made = http_->send(put("", ""), "create the bucket");
        ASSERT_TRUE(made.status == 200 || made.status == 409) << made.status << " " << made.body;
    }

    static cachier::test::s3_server* server_;
    std::unique_ptr<s3_http> http_;
};
cachier::test::s3_server* S3Http::server_ = nullptr;

}  // namespace

TEST_F(S3Http, ObjectsOfAnyBytesAndKeysOfAnyUtf8RoundTrip) {
    std::string value(70000, '\0');
    for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7);
    // S3 keys are UTF-8 (bytes that are not get 400): the backend encodes function names of any bytes.
    const std::string key = "dir/with space/\xc3\xa9t\xc3\xa9?&=+%#~*/name";
    ASSERT_EQ(http_->send(put(key, value), "store").status, 200);
    const auto got = http_->send(get(key), "read");
    EXPECT_EQ(got.status, 200);
    EXPECT_EQ(got.body, value);
    EXPECT_FALSE(got.etag.empty());
    EXPECT_FALSE(got.date.empty());
    EXPECT_FALSE(got.last_modified.empty());
    EXPECT_EQ(http_->send(get("missing"), "read").status, 404);
    s3_request remove = get(key);
    remove.method = "DELETE";
    EXPECT_EQ(http_->send(remove, "remove").status, 204);
    EXPECT_EQ(http_->send(get(key), "read").status, 404);
}

TEST_F(S3Http, ConditionalCreateHasOneWinnerAndIfMatchIsACompareAndSwap) {
    std::atomic<int> won{0};
    std::atomic<int> lost{0};
    std::vector<std::thread> racers;
    for (int i = 0; i < 8; ++i)
        racers.emplace_back([&, i] {
            const std::string body = "racer " + std::to_string(i);
            const auto r = http_->send(put("claim", body, {"If-None-Match: *"}), "claim");
            (r.status == 200 ? won : lost)++;
        });
    for (auto& t : racers) t.join();
    EXPECT_EQ(won, 1);
    EXPECT_EQ(lost, 7);
    const auto current = http_->send(get("claim"), "read");
    EXPECT_EQ(http_->send(put("claim", "next", {"If-Match: " + current.etag}), "swap").status, 200);
    EXPECT_EQ(http_->send(put("claim", "late", {"If-Match: " + current.etag}), "swap").status, 412);
    EXPECT_EQ(http_->send(get("claim"), "read").body, "next");
}

TEST_F(S3Http, RequestsOfOneThreadReuseOneKeptAliveConnection) {
    ASSERT_EQ(http_->send(put("k", "v"), "store").status, 200);
    const auto before = http_->connections_opened();
    for (int i = 0; i < 20; ++i) ASSERT_EQ(http_->send(get("k"), "read").status, 200);
    EXPECT_EQ(http_->connections_opened(), before) << "a hit must cost one round trip, not a new connection";
}

TEST_F(S3Http, MetadataTravelsWithTheObject) {
    ASSERT_EQ(http_->send(put("m", "v", {"x-amz-meta-stored: 12345"}), "store").status, 200);
    EXPECT_EQ(http_->send(get("m"), "read").meta("stored"), "12345");
}

TEST_F(S3Http, AWrongSecretNamesTheAccessKeyIdNeverTheSecret) {
    s3_http wrong(settings_for(server_->url(), "http-test", "hunter2-wrong"));
    try {
        (void)wrong.send(get("anything"), "read an entry");
        FAIL() << "a wrong secret was accepted";
    } catch (const cachier::backend_error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find(test_key), std::string::npos) << message;
        EXPECT_NE(message.find("SignatureDoesNotMatch"), std::string::npos) << message;
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    }
}

TEST(S3HttpDown, AnEndpointThatIsDownFailsWithinTheRequestTimeout) {
    auto s = settings_for("http://127.0.0.1:9", "http-test");
    s.request_timeout = 300ms;
    s3_http down(s);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW((void)down.send(get("k"), "read an entry"), cachier::backend_error);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 600ms);
}
