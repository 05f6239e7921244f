#include "suite.hpp"

namespace cachier::test {
namespace {
backend_under_test file_under_test() {
    return {"file", [](const std::filesystem::path& dir) { return file_backend(dir / "cache"); },
            [](const std::filesystem::path& dir) { return "file://" + (dir / "cache").string(); }};
}
// The file store behind an in-process tier; other processes' changes are seen within 50 ms.
backend_under_test tiered_file_under_test() {
    auto url = [](const std::filesystem::path& dir) {
        return "tiered+file://" + (dir / "cache").string() + "?tier_max_age=50ms";
    };
    return {"tiered_file", [url](const std::filesystem::path& dir) { return backend_from_url(url(dir)); }, url};
}
}  // namespace

INSTANTIATE_TEST_SUITE_P(file, Conformance, testing::Values(file_under_test(), tiered_file_under_test()),
                         backend_name);

}  // namespace cachier::test
