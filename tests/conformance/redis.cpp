#include <memory>

#include "../support/test_server.hpp"
#include "suite.hpp"

namespace cachier::test {
namespace {

// The redis-server of the run's fixture, or one of this process's own.
server_for_tests<redis_server> server("redis");

class redis_environment : public testing::Environment {
public:
    void TearDown() override { server.stop(); }
};
const auto* const environment = testing::AddGlobalTestEnvironment(new redis_environment);

// Each test gets its own key prefix, so tests never see each other's entries.
std::string url_for(const std::filesystem::path& scratch) {
    return server.url() + "/0?prefix=" + scratch.filename().string();
}

backend_under_test redis_under_test() {
    return {"redis", [](const std::filesystem::path& dir) { return redis_backend(url_for(dir)); }, url_for};
}

// An entry's own expiry is not pushed: copies kept in the process follow within tier_max_age.
backend_under_test tiered_redis_under_test() {
    auto url = [](const std::filesystem::path& dir) { return "tiered+" + url_for(dir) + "&tier_max_age=100ms"; };
    return {"tiered_redis", [url](const std::filesystem::path& dir) { return backend_from_url(url(dir)); }, url};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(redis, Conformance, testing::Values(redis_under_test(), tiered_redis_under_test()),
                         backend_name);

}  // namespace cachier::test
