#include <memory>

#include "../support/test_server.hpp"
#include "suite.hpp"

namespace cachier::test {
namespace {

// The MongoDB test servers (the run's fixtures', or this process's own): a standalone one, whose
// waiters poll, and a one-member replica set, whose waiters hear of values through a change stream.
server_for_tests<mongo_server> standalone("mongo");
server_for_tests<mongo_server> replica_set("mongo_rs", "--replica-set rs0");

class mongo_environment : public testing::Environment {
public:
    void TearDown() override {
        standalone.stop();
        replica_set.stop();
    }
};
const auto* const environment = testing::AddGlobalTestEnvironment(new mongo_environment);

// Each test gets its own collection, so tests never see each other's entries.
std::string standalone_url(const std::filesystem::path& scratch) {
    return standalone.url() + "/cachier_test?collection=" + scratch.filename().string();
}

std::string replica_set_url(const std::filesystem::path& scratch) {
    return replica_set.url() + "/cachier_test?replicaSet=rs0&collection=" + scratch.filename().string();
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
