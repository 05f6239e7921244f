// The conformance suite against the example of a user's own backend (examples/custom_backend),
// which uses only cachier's public headers. tests/package builds this file against an installed
// cachier too.

#include <memory>

#include "map_backend.hpp"
#include "suite.hpp"

namespace cachier::test {
namespace {
backend_under_test map_under_test() {
    return {"map", [](const std::filesystem::path&) { return std::make_shared<example::map_backend>(); }, nullptr};
}
}  // namespace

INSTANTIATE_TEST_SUITE_P(custom, Conformance, testing::Values(map_under_test()), backend_name);

}  // namespace cachier::test
