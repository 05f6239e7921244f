#include "suite.hpp"

namespace cachier::test {
namespace {
backend_under_test memory_under_test() {
    return {"memory", [](const std::filesystem::path&) { return memory_backend(); }, nullptr};
}
}  // namespace

INSTANTIATE_TEST_SUITE_P(memory, Conformance, testing::Values(memory_under_test()), backend_name);

}  // namespace cachier::test
