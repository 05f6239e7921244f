#pragma once
// The conformance suite: the semantics every backend shares (../shared design, "The semantics").
// A backend joins by instantiating it once, e.g. in redis.cpp:
//   INSTANTIATE_TEST_SUITE_P(redis, Conformance, testing::Values(redis_under_test()), backend_name);

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/test_support.hpp"

namespace cachier::test {

/// How the suite makes the backend under test.
struct backend_under_test {
    std::string name;
    /// A new backend whose storage lives in (or is named after) `scratch`.
    std::function<std::shared_ptr<backend>(const std::filesystem::path& scratch)> make;
    /// The URL of the same storage for other processes; empty when it cannot be shared between them.
    std::function<std::string(const std::filesystem::path& scratch)> url;
};

/// Prints the backend's name in test output instead of the parameter's bytes.
inline void PrintTo(const backend_under_test& b, std::ostream* os) { *os << b.name; }

inline std::string backend_name(const testing::TestParamInfo<backend_under_test>& info) { return info.param.name; }

class Conformance : public testing::TestWithParam<backend_under_test> {
protected:
    void SetUp() override;
    void TearDown() override;

    /// Options with the backend under test set.
    [[nodiscard]] options base_options() const;
    /// A function name unique to this test.
    [[nodiscard]] std::string fn_name(const std::string& suffix = "") const;
    [[nodiscard]] bool shared_between_processes() const { return static_cast<bool>(GetParam().url); }
    [[nodiscard]] std::string url() const { return GetParam().url(scratch_.path()); }

    scratch_dir scratch_;
    std::shared_ptr<backend> backend_;
};

}  // namespace cachier::test
