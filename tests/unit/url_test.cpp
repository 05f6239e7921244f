// backend_from_url: the URLs this build understands and clear, typed errors for the rest.

#include <cstdlib>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

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

TEST(BackendUrl, BackendsOutsideThisBuildFailClearly) {
    for (const char* url : {"s3://bucket/prefix", "mongodb://127.0.0.1:27017/db"}) {
        EXPECT_THROW((void)cachier::backend_from_url(url), cachier::backend_not_built) << url;
    }
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
