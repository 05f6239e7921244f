// backend_from_url: the URLs this build understands and clear, typed errors for the rest.

#include <cstdlib>
#include <mutex>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../../src/url.hpp"
#include "../support/test_support.hpp"

namespace {

std::string part_of(std::string_view url) {
    try {
        (void)cachier::backend_from_url(url);
    } catch (const cachier::url_error& e) {
        return e.part();
    }
    return "no error";
}

}  // namespace

TEST(BackendUrl, MemoryAndFile) {
    EXPECT_EQ(cachier::backend_from_url("memory://")->kind(), "memory");
    cachier::test::scratch_dir dir;
    auto file = cachier::backend_from_url("file://" + dir.path().string());
    EXPECT_EQ(file->kind(), "file");
    EXPECT_EQ(*file->directory("f"), dir.path() / file->directory("f")->filename());
}

TEST(BackendUrl, StoreLimitsAreOptionsOfEveryScheme) {
    const auto memory = cachier::backend_from_url("memory://?max_entries=500");
    EXPECT_EQ(memory->store_limits().max_entries, std::optional<std::uint64_t>(500));
    EXPECT_EQ(memory->store_limits().max_bytes, std::nullopt);
    cachier::test::scratch_dir dir;
    const auto file = cachier::backend_from_url("file://" + dir.path().string() + "?max_bytes=64MiB&max_entries=9");
    EXPECT_EQ(file->store_limits().max_bytes, std::optional<std::uint64_t>(64ULL << 20));
    EXPECT_EQ(file->store_limits().max_entries, std::optional<std::uint64_t>(9));
    const auto sqlite = cachier::backend_from_url("sqlite://" + (dir.path() / "x.db").string() + "?max_entries=3&table=t1");
    EXPECT_EQ(sqlite->store_limits().max_entries, std::optional<std::uint64_t>(3));
    EXPECT_FALSE(cachier::backend_from_url("memory://")->has_store_limits());
    EXPECT_EQ(part_of("memory://?max_entries=0"), "max_entries");
    EXPECT_EQ(part_of("memory://?max_entries=many"), "max_entries");
    EXPECT_EQ(part_of("memory://?max_bytes=12XB"), "max_bytes");
    EXPECT_EQ(part_of("memory://?max_bytes=0"), "max_bytes");
}

TEST(BackendUrl, TieredSchemesPutAnInProcessTierInFrontOfAnyStore) {
    cachier::test::scratch_dir dir;
    const auto tiered = cachier::backend_from_url("tiered+file://" + dir.path().string() + "?tier_max_age=250ms&max_entries=7");
    EXPECT_EQ(tiered->kind(), "tiered+file");
    EXPECT_TRUE(tiered->capabilities().keeps_values_in_process);
    EXPECT_TRUE(tiered->capabilities().shared_between_processes);
    EXPECT_EQ(tiered->capabilities().in_process_max_age, std::chrono::milliseconds(250));
    EXPECT_EQ(tiered->store_limits().max_entries, std::optional<std::uint64_t>(7)) << "limits apply to the tiered store";
    EXPECT_EQ(cachier::backend_from_url("tiered+memory://")->capabilities().in_process_max_age, std::chrono::seconds(1));
    EXPECT_EQ(part_of("tiered+file://" + dir.path().string() + "?tier_max_age=soon"), "tier_max_age");
    EXPECT_EQ(part_of("tiered+tiered+memory://"), "scheme");
    EXPECT_EQ(part_of("tiered+ftp://host/x"), "scheme");
    EXPECT_EQ(part_of("tiered+file:///tmp/x?other=1"), "query") << "the inner store still refuses unknown options";
    EXPECT_THROW((void)cachier::tiered_backend(cachier::file_backend(dir.path()), cachier::memory_backend()),
                 cachier::config_error)
        << "the near tier must be in-process storage";
    EXPECT_THROW((void)cachier::tiered_backend(cachier::memory_backend(), nullptr), cachier::config_error);
    EXPECT_THROW((void)cachier::tiered_backend(cachier::memory_backend(), cachier::memory_backend(),
                                               {.max_staleness = std::chrono::microseconds(10), .max_entries = 1}),
                 cachier::config_error);
    EXPECT_THROW((void)cachier::tiered_backend(cachier::memory_backend(), cachier::memory_backend(),
                                               {.max_staleness = std::chrono::seconds(1), .max_entries = 0}),
                 cachier::config_error);
}

TEST(BackendUrl, MalformedUrlsNameTheWrongPart) {
    EXPECT_EQ(part_of("not a url"), "scheme");
    EXPECT_EQ(part_of("://x"), "scheme");
    EXPECT_EQ(part_of("ftp://host/x"), "scheme");
    EXPECT_EQ(part_of("file://relative/dir"), "path");
    EXPECT_EQ(part_of("file:///tmp/x?y=1"), "query");
    EXPECT_EQ(part_of("file:///tmp/x#frag"), "fragment");
    EXPECT_EQ(part_of("sqlite://relative.db"), "path");
    EXPECT_EQ(part_of("redis://:pw@host:0/0"), "port");
    EXPECT_EQ(part_of("memory://something"), "path");
}

TEST(BackendUrl, ErrorsNeverShowPasswords) {
    try {
        (void)cachier::backend_from_url("ftp://user:s3cret@host/db");
        FAIL();
    } catch (const cachier::url_error& e) {
        EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
    }
}

TEST(BackendUrl, OptionalBackendsFailClearlyInBuildsWithoutThemOrOnMissingSettings) {
    // In a build without S3: backend_not_built, which names the CMake option. With S3 and no
    // credentials anywhere: a config_error that says where credentials come from.
    const char* saved = std::getenv("AWS_ACCESS_KEY_ID");
    const std::string kept = saved == nullptr ? "" : saved;
    ::unsetenv("AWS_ACCESS_KEY_ID");
    try {
        (void)cachier::backend_from_url("s3://bucket/prefix");
        ADD_FAILURE() << "an s3:// URL without credentials was accepted";
    } catch (const cachier::backend_not_built& e) {
        EXPECT_NE(std::string(e.what()).find("CACHIER_WITH_S3"), std::string::npos) << e.what();
    } catch (const cachier::config_error& e) {
        EXPECT_NE(std::string(e.what()).find("AWS_ACCESS_KEY_ID"), std::string::npos) << e.what();
    }
    if (saved != nullptr) ::setenv("AWS_ACCESS_KEY_ID", kept.c_str(), 1);
}

TEST(BackendUrl, EnvironmentChoosesTheDefaultBackend) {
    cachier::test::scratch_dir dir;
    cachier::reset_global_params();
    ::setenv("CACHIER_BACKEND", ("file://" + dir.path().string()).c_str(), 1);
    auto f = cachier::cachier("url_test.env", [](int x) { return x + 1; });
    ::unsetenv("CACHIER_BACKEND");
    EXPECT_EQ(f(1), 2);
    ASSERT_TRUE(f.cache_dpath().has_value());
    EXPECT_EQ(f.cache_dpath()->parent_path(), dir.path());
    cachier::reset_global_params();
}

TEST(BackendUrl, DefaultDirectoryFollowsXdgCacheHome) {
    const char* old = std::getenv("XDG_CACHE_HOME");
    const std::string saved = old ? old : "";
    ::setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
    EXPECT_EQ(cachier::default_cache_dir(), std::filesystem::path("/tmp/xdg-test/cachier"));
    ::unsetenv("XDG_CACHE_HOME");
    EXPECT_EQ(cachier::default_cache_dir().filename(), ".cachier");
    if (old) ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
}

namespace {

/// Every message a URL produces: the error making its backend, or the errors and log lines of a
/// first call through it (its server is absent: port 1 refuses at once).
std::vector<std::string> messages_of(const std::string& url) {
    std::vector<std::string> out;
    std::mutex mutex;
    cachier::set_log_callback([&](cachier::log_level, std::string_view m) {
        const std::lock_guard lock(mutex);
        out.emplace_back(m);
    });
    try {
        cachier::options o;
        o.backend = cachier::backend_from_url(url);
        auto f = cachier::cachier("url.secrets", [](int x) { return x; }, o);
        (void)f(1);
    } catch (const std::exception& e) {
        out.emplace_back(e.what());
    }
    cachier::wait_for_background_work();
    cachier::reset_log_callback();
    return out;
}

}  // namespace

TEST(BackendUrl, NoMessageShowsAnyPartOfTheUserInfoWhateverTheUrlLooksLike) {
    // Distinctive pieces before and after each awkward character, so that any leak is found.
    const std::vector<std::string> passwords = {"Qz9/xK7", "Qz9?xK7", "Qz9#xK7", "Qz9@xK7", "Qz9%xK7", "Qz9%2FxK7",
                                                "Qz9:xK7", "Qz9 xK7", "Qz9/?#@xK7"};
    const std::vector<std::string> shapes = {
        "SCHEME://usrW5:PASS@127.0.0.1:1/0",   "SCHEME://usrW5:PASS@127.0.0.1:1",  "SCHEME://:PASS@127.0.0.1:1/db",
        "SCHEME://usrW5:PASS@127.0.0.1:99999/x", "SCHEME://usrW5:PASS@/x?y=1",       "SCHEME://usrW5:PASS@h:1/x?bad",
        "SCHEME:/usrW5:PASS@127.0.0.1:1",       "SCHEME//usrW5:PASS@127.0.0.1",     "usrW5:PASS@127.0.0.1",
    };
    const std::vector<std::string> schemes = {"redis", "rediss", "postgresql", "postgres", "sqlite", "file",
                                              "memory", "mongodb", "s3", "ftp"};
    int checked = 0;
    for (const auto& scheme : schemes) {
        for (const auto& shape : shapes) {
            for (const auto& password : passwords) {
                std::string url = shape;
                if (const auto at = url.find("SCHEME"); at != std::string::npos) url.replace(at, 6, scheme);
                url.replace(url.find("PASS"), 4, password);
                for (const auto& m : messages_of(url)) {
                    ++checked;
                    for (const char* piece : {"Qz9", "xK7", "usrW5"})
                        EXPECT_EQ(m.find(piece), std::string::npos) << "URL " << url << " gave: " << m;
                }
            }
        }
    }
    EXPECT_GT(checked, 500);
}

TEST(BackendUrl, ClientLibraryMessagesAreScrubbedOfUserAndPassword) {
    const auto u = cachier::detail::parse_url("postgresql://alice-x:s3cr%2Ft@127.0.0.1:5432/db?password=other-pw");
    const std::string scrubbed = cachier::detail::scrub_secrets(
        "FATAL: password authentication failed for user \"alice-x\" (s3cr/t, s3cr%2Ft, other-pw)", u);
    EXPECT_EQ(scrubbed, "FATAL: password authentication failed for user \"***\" (***, ***, ***)");
}
