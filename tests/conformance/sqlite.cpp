#include "suite.hpp"

namespace cachier::test {
namespace {
std::string url_for(const std::filesystem::path& dir) { return "sqlite://" + (dir / "cache.db").string(); }

backend_under_test sqlite_under_test() {
    return {"sqlite", [](const std::filesystem::path& dir) { return sql_backend(url_for(dir)); }, url_for};
}
backend_under_test tiered_sqlite_under_test() {
    auto url = [](const std::filesystem::path& dir) { return "tiered+" + url_for(dir) + "?tier_max_age=50ms"; };
    return {"tiered_sqlite", [url](const std::filesystem::path& dir) { return backend_from_url(url(dir)); }, url};
}
backend_under_test sqlite_memory_under_test() {
    return {"sqlite_memory", [](const std::filesystem::path&) { return sql_backend("sqlite://:memory:"); }, nullptr};
}
}  // namespace

INSTANTIATE_TEST_SUITE_P(sqlite, Conformance, testing::Values(sqlite_under_test(), sqlite_memory_under_test(), tiered_sqlite_under_test()),
                         backend_name);

}  // namespace cachier::test
