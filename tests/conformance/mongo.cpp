#include <memory>

#include "../support/test_server.hpp"
#include "suite.hpp"

namespace cachier::test {
namespace {

// One MongoDB test server per test process (CTest runs each test in its own process).
std::unique_ptr<mongo_server> server;

class mongo_environment : public testing::Environment {
public:
    void SetUp() override { server = std::make_unique<mongo_server>(); }
    void TearDown() override { server.reset(); }
};
const auto* const environment = testing::AddGlobalTestEnvironment(new mongo_environment);

// Each test gets its own collection, so tests never see each other's entries.
std::string url_for(const std::filesystem::path& scratch) {
    return server->url() + "/cachier_test?collection=" + scratch.filename().string();
}

backend_under_test mongo_under_test() {
    return {"mongo", [](const std::filesystem::path& dir) { return backend_from_url(url_for(dir)); }, url_for};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(mongo, Conformance, testing::Values(mongo_under_test()), backend_name);

}  // namespace cachier::test
