#include <memory>

#include "../support/test_server.hpp"
#include "suite.hpp"

namespace cachier::test {
namespace {

// One real PostgreSQL server per test process (CTest runs each test in its own process).
std::unique_ptr<postgres_server> server;

class postgres_environment : public testing::Environment {
public:
    void SetUp() override { server = std::make_unique<postgres_server>(); }
    void TearDown() override { server.reset(); }
};
const auto* const environment = testing::AddGlobalTestEnvironment(new postgres_environment);

backend_under_test postgres_under_test() {
    auto url = [](const std::filesystem::path&) { return server->url(); };
    return {"postgres", [url](const std::filesystem::path& dir) { return sql_backend(url(dir)); }, url};
}

// An entry's own expiry is not pushed: copies kept in the process follow within tier_max_age.
backend_under_test tiered_postgres_under_test() {
    auto url = [](const std::filesystem::path&) { return "tiered+" + server->url() + "?tier_max_age=100ms"; };
    return {"tiered_postgres", [url](const std::filesystem::path& dir) { return backend_from_url(url(dir)); }, url};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(postgres, Conformance, testing::Values(postgres_under_test(), tiered_postgres_under_test()),
                         backend_name);

}  // namespace cachier::test
