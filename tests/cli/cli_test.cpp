// The installed `cachier` tool against caches a real program made (this one), on every backend
// built: listings name the functions and count their entries exactly, --json parses, clear,
// clear-claims and prune remove exactly what they say, mistakes give exit status 1 or 2 with a
// clear message, and secrets are never printed. Each backend is one CTest test, cli/<backend>.

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cachier/cachier.hpp>

#include "../support/test_server.hpp"
#include "../support/test_support.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

struct ran {
    std::string out;
    int status = -1;
};

/// Runs a shell command; its output and exit status.
ran cachier_tool_command(const std::string& command) {
    ran r;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return r;
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) r.out.append(buffer, n);
    const int status = ::pclose(pipe);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

/// Runs the installed tool with `arguments` (shell words); stderr joins stdout when `with_errors`.
ran cachier_tool(const std::string& arguments, bool with_errors = false) {
    return cachier_tool_command(std::string(CACHIER_CLI) + " " + arguments + (with_errors ? " 2>&1" : " 2>/dev/null"));
}

json tool_json(const std::string& arguments) {
    const ran r = cachier_tool(arguments + " --json");
    EXPECT_EQ(r.status, 0) << arguments << "\n" << cachier_tool(arguments + " --json", true).out;
    try {
        return json::parse(r.out);
    } catch (const json::parse_error& e) {
        ADD_FAILURE() << arguments << ": not JSON: " << e.what() << "\n" << r.out;
        return json::object();
    }
}

// The servers of this test process, each started at its first use.
std::unique_ptr<cachier::test::redis_server> redis;
std::unique_ptr<cachier::test::postgres_server> postgres;
std::unique_ptr<cachier::test::mongo_server> mongo;
std::unique_ptr<cachier::test::s3_server> s3;

class servers : public testing::Environment {
public:
    void TearDown() override {
        redis.reset();
        postgres.reset();
        mongo.reset();
        s3.reset();
    }
};
const auto* const environment = testing::AddGlobalTestEnvironment(new servers);

struct backend_case {
    std::string name;
    std::function<std::string(const std::filesystem::path&)> url;  ///< from the test's scratch directory
};

std::string s3_url(const std::filesystem::path& scratch) {
    if (!s3) {
        ::setenv("AWS_ACCESS_KEY_ID", "cachier-test-key", 1);
        ::setenv("AWS_SECRET_ACCESS_KEY", "cachier-test-secret", 1);
        s3 = std::make_unique<cachier::test::s3_server>();
        const std::string make_bucket = "curl -sf -o /dev/null -X PUT --aws-sigv4 aws:amz:us-east-1:s3 --user "
                                        "cachier-test-key:cachier-test-secret -H 'x-amz-content-sha256: "
                                        "UNSIGNED-PAYLOAD' " + s3->url() + "/cli-test";
        EXPECT_EQ(std::system(make_bucket.c_str()), 0);
    }
    return "s3://cli-test/" + scratch.filename().string() + "?endpoint=" + s3->url();
}

std::vector<backend_case> backends_built() {
    std::vector<backend_case> cases{
        {"file", [](const std::filesystem::path& dir) { return "file://" + (dir / "cache").string(); }}};
#ifdef CACHIER_HAS_SQLITE
    cases.push_back({"sqlite", [](const std::filesystem::path& dir) { return "sqlite://" + (dir / "c.db").string(); }});
#endif
#ifdef CACHIER_HAS_POSTGRES
    cases.push_back({"postgres", [](const std::filesystem::path&) {
                         if (!postgres) postgres = std::make_unique<cachier::test::postgres_server>();
                         return postgres->url();
                     }});
#endif
#ifdef CACHIER_HAS_REDIS
    cases.push_back({"redis", [](const std::filesystem::path&) {
                         if (!redis) redis = std::make_unique<cachier::test::redis_server>();
                         return redis->url();
                     }});
#endif
#ifdef CACHIER_HAS_MONGO
    cases.push_back({"mongo", [](const std::filesystem::path& dir) {
                         if (!mongo) mongo = std::make_unique<cachier::test::mongo_server>();
                         return mongo->url() + "/cachier_cli?collection=" + dir.filename().string();
                     }});
#endif
#ifdef CACHIER_HAS_S3
    cases.push_back({"s3", s3_url});
#endif
    return cases;
}

double price(const std::string& sku, int quantity) { return static_cast<double>(sku.size()) * quantity; }
std::string report(int n) { return std::string(1000 + static_cast<std::size_t>(n), 'r'); }

/// Each test stores, through cachier, 5 entries of {p}.prices, 3 of {p}.reports and one claim of
/// {p}.reports held by another owner; p is unique to the test, so tests sharing a server never
/// see each other's functions.
class Cli : public testing::TestWithParam<backend_case> {
protected:
    void SetUp() override {
        url_ = GetParam().url(scratch_.path());
        const std::string p = std::string("cli.") + testing::UnitTest::GetInstance()->current_test_info()->name();
        prices_ = p + ".prices";
        reports_ = p + ".reports";
        store_ = cachier::backend_from_url(url_);
        cachier::options o;
        o.backend = store_;
        auto prices = cachier::cachier(prices_, price, o);
        for (int q = 1; q <= 5; ++q) (void)prices("sku-" + std::to_string(q), q);
        auto reports = cachier::cachier(reports_, report, o);
        for (int n = 0; n < 3; ++n) (void)reports(n);
        ASSERT_TRUE(store_->try_claim({reports_, std::string(64, 'c')}, "another-process", 60s));
    }

    /// The entries of `function` in `cachier ls --json`, or -1 when it is not listed.
    long long listed_entries(const std::string& function) {
        const json listed = tool_json("ls '" + url_ + "'");
        for (const auto& f : listed["functions"])
            if (f["name"] == function) return f["entries"].get<long long>();
        return -1;
    }

    /// The entries of each version of `function` in `cachier ls --json`; "" for the unversioned ones.
    std::map<std::string, long long> listed_versions(const std::string& function) {
        std::map<std::string, long long> versions;
        const json listed = tool_json("ls '" + url_ + "'");
        for (const auto& f : listed["functions"])
            if (f["name"] == function)
                versions[f["version"].is_null() ? "" : f["version"].get<std::string>()] = f["entries"].get<long long>();
        return versions;
    }

    cachier::test::scratch_dir scratch_;
    std::string url_;
    std::string prices_;
    std::string reports_;
    std::shared_ptr<cachier::backend> store_;
};

}  // namespace

TEST_P(Cli, LsNamesEveryFunctionWithItsEntryCountAndSize) {
    EXPECT_EQ(listed_entries(prices_), 5);
    EXPECT_EQ(listed_entries(reports_), 3);
    const json listed = tool_json("ls '" + url_ + "'");
    for (const auto& f : listed["functions"]) {
        if (f["name"] != reports_) continue;
        EXPECT_GT(f["bytes"].get<long long>(), 3000) << "three values of 1,000 bytes and more";
        EXPECT_GE(f["oldest_seconds"].get<double>(), f["newest_seconds"].get<double>());
    }
    const ran table = cachier_tool("ls '" + url_ + "'");
    EXPECT_EQ(table.status, 0);
    EXPECT_NE(table.out.find("FUNCTION"), std::string::npos);
    EXPECT_NE(table.out.find(prices_), std::string::npos) << table.out;
}

TEST_P(Cli, ShowListsEveryEntryAndTheClaimInProgress) {
    const json shown = tool_json("show '" + url_ + "' " + reports_);
    ASSERT_EQ(shown["entries"].size(), 4U) << shown.dump(1);
    int values = 0;
    int live = 0;
    for (const auto& e : shown["entries"]) {
        values += e["has_value"].get<bool>() ? 1 : 0;
        live += e["claim"] == "live" ? 1 : 0;
        if (e["has_value"].get<bool>()) {
            EXPECT_GE(e["bytes"].get<long long>(), 1000);
        }
    }
    EXPECT_EQ(values, 3);
    EXPECT_EQ(live, 1);
    const ran table = cachier_tool("show '" + url_ + "' " + reports_);
    EXPECT_NE(table.out.find("live"), std::string::npos) << table.out;
}

TEST_P(Cli, StatsAddUpEntriesSizesAndClaims) {
    const json one = tool_json("stats '" + url_ + "' " + reports_);
    ASSERT_EQ(one["functions"].size(), 1U);
    EXPECT_EQ(one["functions"][0]["entries"], 3);
    EXPECT_EQ(one["functions"][0]["live_claims"], 1);
    EXPECT_GE(one["functions"][0]["largest_bytes"].get<long long>(), 1002);
    const json all = tool_json("stats '" + url_ + "'");
    long long ours = 0;
    for (const auto& f : all["functions"])
        if (f["name"] == prices_ || f["name"] == reports_) ours += f["entries"].get<long long>();
    EXPECT_EQ(ours, 8);
    EXPECT_GE(all["total"]["entries"].get<long long>(), 8);
}

TEST_P(Cli, ClearRemovesOneFunctionsEntriesAndNothingElse) {
    const json cleared = tool_json("clear '" + url_ + "' " + prices_ + " --yes");
    EXPECT_EQ(cleared["removed"], 5);
    EXPECT_LE(listed_entries(prices_), 0);
    EXPECT_EQ(listed_entries(reports_), 3);
}

TEST_P(Cli, ClearClaimsRemovesTheClaimsAndKeepsTheValues) {
    const json cleared = tool_json("clear-claims '" + url_ + "' " + reports_ + " --yes");
    EXPECT_EQ(cleared["claims_removed"], 1);
    const json shown = tool_json("show '" + url_ + "' " + reports_);
    for (const auto& e : shown["entries"]) EXPECT_EQ(e["claim"], "none");
    EXPECT_EQ(listed_entries(reports_), 3);
}

TEST_P(Cli, PruneRemovesOnlyEntriesOlderThanTheAge) {
    // Two entries stored two hours ago (a copy keeps its age), one now.
    for (int n = 0; n < 3; ++n) {
        cachier::store_request r;
        const std::string value = "aged value";
        r.value = value;
        if (n < 2) r.age = 2h;
        store_->store({prices_, std::string(63, 'a') + std::to_string(n)}, r);
    }
    const json pruned = tool_json("prune '" + url_ + "' " + prices_ + " --older-than 1h --yes");
    EXPECT_EQ(pruned["removed"], 2);
    EXPECT_EQ(listed_entries(prices_), 6);
    EXPECT_EQ(listed_entries(reports_), 3) << "another function was pruned";
}

TEST_P(Cli, VersionsAreListedShownAndPrunedByKeepVersion) {
    cachier::options o;
    o.backend = store_;
    for (const char* version : {"v1", "v2"}) {
        o.version = version;
        auto prices = cachier::cachier(prices_, price, o);
        for (int q = 1; q <= (version == std::string("v1") ? 2 : 3); ++q) (void)prices("sku-" + std::to_string(q), q);
    }
    std::map<std::string, long long> versions = listed_versions(prices_);
    EXPECT_EQ(versions, (std::map<std::string, long long>{{"", 5}, {"v1", 2}, {"v2", 3}}));
    const ran table = cachier_tool("ls '" + url_ + "'");
    EXPECT_NE(table.out.find("VERSION"), std::string::npos) << table.out;
    EXPECT_EQ(tool_json("show '" + url_ + "' " + prices_ + " --version v1")["entries"].size(), 2U);
    const ran missing = cachier_tool("show '" + url_ + "' " + prices_ + " --version v9", true);
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.out.find("v1, v2"), std::string::npos) << missing.out;

    const json pruned = tool_json("prune '" + url_ + "' " + prices_ + " --keep-version v2 --yes");
    EXPECT_EQ(pruned["removed"], 7) << pruned.dump(1);
    versions = listed_versions(prices_);
    EXPECT_EQ(versions, (std::map<std::string, long long>{{"v2", 3}}));
    EXPECT_EQ(listed_entries(reports_), 3) << "a function without version v2 was pruned";
    EXPECT_EQ(cachier_tool("prune '" + url_ + "' " + prices_ + " --version v2 --keep-version v2").status, 2);
    EXPECT_EQ(cachier_tool("prune '" + url_ + "'").status, 2) << "prune needs --older-than or --keep-version";
}

TEST_P(Cli, EvictKeepsTheMostRecentlyUsedEntriesWithinTheLimit) {
    const json shown = tool_json("show '" + url_ + "' " + prices_);
    for (const auto& e : shown["entries"])
        if (e["has_value"].get<bool>()) {
            EXPECT_TRUE(e["since_last_use_seconds"].is_number()) << e.dump();
        }
    const json evicted = tool_json("evict '" + url_ + "' " + prices_ + " --max-entries 2 --yes");
    EXPECT_EQ(evicted["removed"], 3) << evicted.dump(1);
    EXPECT_EQ(evicted["entries"], 2) << evicted.dump(1);
    EXPECT_EQ(listed_entries(prices_), 2);
    const ran by_bytes = cachier_tool("evict '" + url_ + "' " + reports_ + " --max-bytes 2.5KB --yes");
    EXPECT_EQ(by_bytes.status, 0) << by_bytes.out;
    EXPECT_NE(by_bytes.out.find("evicted 1 entries"), std::string::npos) << by_bytes.out;
    EXPECT_EQ(listed_entries(reports_), 2);
    const json whole = tool_json("evict '" + url_ + "' --max-entries 3 --yes");
    EXPECT_EQ(whole["entries"], 3) << whole.dump(1);
    EXPECT_EQ(listed_entries(prices_) + listed_entries(reports_), 3);
    EXPECT_EQ(cachier_tool("evict '" + url_ + "' " + prices_ + " --yes").status, 2) << "evict needs a limit";
    EXPECT_EQ(cachier_tool("evict '" + url_ + "' " + prices_ + " --max-bytes 12XB --yes").status, 2);
    EXPECT_EQ(cachier_tool("evict '" + url_ + "' " + prices_ + " --max-entries 0 --yes").status, 2);
    EXPECT_EQ(cachier_tool("evict '" + url_ + "' no.such.function --max-entries 1 --yes").status, 1);
}

TEST_P(Cli, TheUrlCanComeFromTheEnvironment) {
    ::setenv("CACHIER_BACKEND", url_.c_str(), 1);
    const ran r = cachier_tool("stats " + reports_ + " --json");
    ::unsetenv("CACHIER_BACKEND");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("\"entries\": 3"), std::string::npos) << r.out;
}

TEST_P(Cli, MistakesGiveExitStatusOneOrTwoWithAClearMessage) {
    const ran unknown = cachier_tool("show '" + url_ + "' no.such.function", true);
    EXPECT_EQ(unknown.status, 1);
    EXPECT_NE(unknown.out.find("no function named \"no.such.function\""), std::string::npos) << unknown.out;
    const ran no_function = cachier_tool("clear '" + url_ + "' --yes", true);
    EXPECT_EQ(no_function.status, 2) << no_function.out;
    const ran no_age = cachier_tool("prune '" + url_ + "'", true);
    EXPECT_EQ(no_age.status, 2) << no_age.out;
    const ran bad_age = cachier_tool("prune '" + url_ + "' --older-than 7x --yes", true);
    EXPECT_EQ(bad_age.status, 2);
    EXPECT_NE(bad_age.out.find("7x"), std::string::npos) << bad_age.out;
}

TEST_P(Cli, OnATerminalDestructiveCommandsAskFirst) {
    // script(1) gives the tool a terminal; its answer comes from the pipe.
    const auto on_terminal = [](const std::string& answer, const std::string& arguments) {
        return cachier_tool_command("echo " + answer + " | script -qec \"" + std::string(CACHIER_CLI) + " " +
                                    arguments + "\" /dev/null");
    };
    const ran refused = on_terminal("n", "clear '" + url_ + "' " + prices_);
    EXPECT_EQ(refused.status, 1) << refused.out;
    EXPECT_NE(refused.out.find("[y/N]"), std::string::npos) << refused.out;
    EXPECT_NE(refused.out.find("nothing removed"), std::string::npos) << refused.out;
    EXPECT_EQ(listed_entries(prices_), 5);
    const ran accepted = on_terminal("y", "clear '" + url_ + "' " + prices_);
    EXPECT_EQ(accepted.status, 0) << accepted.out;
    EXPECT_LE(listed_entries(prices_), 0);
}

TEST_P(Cli, OnATerminalLongListingsShowTheirProgress) {
    if (GetParam().name != "file") GTEST_SKIP() << "one backend is enough; 2,000 stores are slow on servers";
    cachier::options o;
    o.backend = store_;
    auto many = cachier::cachier(prices_ + ".many", [](int x) { return x; }, o);
    for (int i = 0; i < 2000; ++i) (void)many(i);
    const ran shown = cachier_tool_command("script -qec \"" + std::string(CACHIER_CLI) + " show '" + url_ + "' " +
                                           prices_ + ".many\" /dev/null");
    EXPECT_EQ(shown.status, 0);
    EXPECT_NE(shown.out.find("listing entries: 2000"), std::string::npos) << shown.out.substr(0, 300);
    const ran piped = cachier_tool("show '" + url_ + "' " + prices_ + ".many", true);
    EXPECT_EQ(piped.out.find("listing entries"), std::string::npos) << "progress on a stderr that is not a terminal";
}

INSTANTIATE_TEST_SUITE_P(backends, Cli, testing::ValuesIn(backends_built()),
                         [](const testing::TestParamInfo<backend_case>& info) { return info.param.name; });

TEST(CliUsage, BadUrlsAndMissingStorageAreUsageErrors) {
    ::unsetenv("CACHIER_BACKEND");
    const ran none = cachier_tool("ls", true);
    EXPECT_EQ(none.status, 2);
    EXPECT_NE(none.out.find("CACHIER_BACKEND"), std::string::npos) << none.out;
    const ran scheme = cachier_tool("ls nosuch://host/x", true);
    EXPECT_EQ(scheme.status, 2);
    EXPECT_NE(scheme.out.find("nosuch"), std::string::npos) << scheme.out;
    EXPECT_EQ(cachier_tool("frobnicate", true).status, 2);
    const ran help = cachier_tool("prune --help");
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("Example:"), std::string::npos) << help.out;
    const ran version = cachier_tool("--version");
    EXPECT_EQ(version.status, 0);
    EXPECT_NE(version.out.find(cachier::version_string), std::string::npos);
}

TEST(CliUsage, SecretsInUrlsAreNeverPrinted) {
    for (const std::string url : {"redis://:hunter2@127.0.0.1:1/0", "postgresql://app:hunter2@127.0.0.1:1/db",
                                  "mongodb://app:hunter2@127.0.0.1:1/db?serverSelectionTimeoutMS=200",
                                  "s3://AKID:hunter2@bucket/prefix"}) {
        const ran r = cachier_tool("ls '" + url + "'", true);
        EXPECT_NE(r.status, 0) << url;
        EXPECT_EQ(r.out.find("hunter2"), std::string::npos) << r.out;
    }
}
