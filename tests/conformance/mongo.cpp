#include <memory>

#include "../support/test_server.hpp"
#include "suite.hpp"

namespace cachier::test {
namespace {

// The MongoDB test servers of this test process (CTest runs each test in its own process): a
// standalone one, whose waiters poll, and a one-member replica set, whose waiters hear of values
// through a change stream. Each starts at its first use.
std::unique_ptr<mongo_server> standalone;
std::unique_ptr<mongo_server> replica_set;

class mongo_environment : public testing::Environment {
public:
    void TearDown() override {
        standalone.reset();
        replica_set.reset();
    }
};
const auto* const environment = testing::AddGlobalTestEnvironment(new mongo_environment);

// Each test gets its own collection, so tests never see each other's entries.
std::string standalone_url(const std::filesystem::path& scratch) {
    if (!standalone) standalone = std::make_unique<mongo_server>();
    return standalone->url() + "/cachier_test?collection=" + scratch.filename().string();
}

std::string replica_set_url(const std::filesystem::path& scratch) {
    if (!replica_set) replica_set = std::make_unique<mongo_server>("--replica-set rs0");
    return replica_set->url() + "/cachier_test?replicaSet=rs0&collection=" + scratch.filename().string();
}

backend_under_test mongo_under_test(std::string name, std::string (*url_for)(const std::filesystem::path&)) {
    return {std::move(name), [url_for](const std::filesystem::path& dir) { return backend_from_url(url_for(dir)); },
            url_for};
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(mongo, Conformance,
                         testing::Values(mongo_under_test("mongo", standalone_url),
                                         mongo_under_test("mongo_replica_set", replica_set_url)),
                         backend_name);

}  // namespace cachier::test
