#include <cstdlib>
#include <memory>

#include "../support/test_server.hpp"
#include "backends/s3/s3_http.hpp"
#include "suite.hpp"

namespace cachier::test {
namespace {

// One RADOS Gateway per test process (CTest runs each test in its own process), with one bucket;
// each test keeps its entries under a prefix of its own. The credentials are the test server's
// (scripts/s3-server.sh), given as the AWS tools take them, so that worker processes inherit them.
std::unique_ptr<s3_server> server;
constexpr const char* bucket = "conformance";

class s3_environment : public testing::Environment {
public:
    void SetUp() override {
        ::setenv("AWS_ACCESS_KEY_ID", "cachier-test-key", 1);
        ::setenv("AWS_SECRET_ACCESS_KEY", "cachier-test-secret", 1);
        server = std::make_unique<s3_server>();
        s3_backend_options o;
        o.bucket = bucket;
        o.endpoint = server->url();
        detail::s3::s3_http http(detail::s3::resolve(o));
        detail::s3::s3_request make_bucket;
        make_bucket.method = "PUT";
        const auto made = http.send(make_bucket, "create the test bucket");
        if (made.status != 200) throw std::runtime_error("cannot create the test bucket: HTTP " + std::to_string(made.status));
        // A new cluster creates its data pool at the first write (about 150 ms): done here, so that
        // the tests' timings are the gateway's usual ones.
        detail::s3::s3_request warm_up;
        warm_up.method = "PUT";
        warm_up.key = "warm-up";
        warm_up.body = "x";
        (void)http.send(warm_up, "warm up the gateway");
    }
    void TearDown() override { server.reset(); }
};
const auto* const environment = testing::AddGlobalTestEnvironment(new s3_environment);

std::string url_for(const std::filesystem::path& scratch) {
    return std::string("s3://") + bucket + "/" + scratch.filename().string() + "?endpoint=" + server->url();
}

backend_under_test s3_under_test() {
    return {"s3", [](const std::filesystem::path& dir) { return backend_from_url(url_for(dir)); }, url_for};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(s3, Conformance, testing::Values(s3_under_test()), backend_name);

}  // namespace cachier::test
