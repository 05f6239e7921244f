#include "suite.hpp"

namespace cachier::test {
namespace {
backend_under_test file_under_test() {
    return {"file", [](const std::filesystem::path& dir) { return file_backend(dir / "cache"); },
            [](const std::filesystem::path& dir) { return "file://" + (dir / "cache").string(); }};
}
}  // namespace

INSTANTIATE_TEST_SUITE_P(file, Conformance, testing::Values(file_under_test()), backend_name);

}  // namespace cachier::test
