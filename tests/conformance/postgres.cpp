#include <algorithm>
#include <cctype>
#include <memory>

#include "../support/test_server.hpp"
#include "suite.hpp"

namespace cachier::test {
namespace {

// The PostgreSQL server of the run's fixture, or one of this process's own.
server_for_tests<postgres_server> server("postgres");

class postgres_environment : public testing::Environment {
public:
    void TearDown() override { server.stop(); }
};
const auto* const environment = testing::AddGlobalTestEnvironment(new postgres_environment);

// Each test gets its own table (named after its scratch directory), so tests never see each
// other's entries or notifications.
std::string url_for(const std::filesystem::path& scratch) {
    std::string table = "t_" + scratch.filename().string();
    std::replace_if(table.begin(), table.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) == 0; }, '_');
    return server.url() + "?table=" + table;
}

backend_under_test postgres_under_test() {
    return {"postgres", [](const std::filesystem::path& dir) { return sql_backend(url_for(dir)); }, url_for};
}

// An entry's own expiry is not pushed: copies kept in the process follow within tier_max_age.
backend_under_test tiered_postgres_under_test() {
    auto url = [](const std::filesystem::path& dir) { return "tiered+" + url_for(dir) + "&tier_max_age=100ms"; };
    return {"tiered_postgres", [url](const std::filesystem::path& dir) { return backend_from_url(url(dir)); }, url};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(postgres, Conformance, testing::Values(postgres_under_test(), tiered_postgres_under_test()),
                         backend_name);

}  // namespace cachier::test
