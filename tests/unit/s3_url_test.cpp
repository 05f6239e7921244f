// The S3 backend's settings: s3:// URLs, options, and the environment's defaults, as the AWS tools
// read them. Credentials never come from a URL and never appear in an error.

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "backends/s3/s3_settings.hpp"

namespace {

using cachier::detail::s3::options_from_url;
using cachier::detail::s3::resolve;

/// Sets or unsets environment variables for one test, and restores them after it.
class environment {
public:
    environment(std::initializer_list<std::pair<const char*, const char*>> values) {
        for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                                 "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"}) {
            const char* old = std::getenv(name);
            saved_.emplace_back(name, old == nullptr ? std::optional<std::string>() : std::string(old));
            ::unsetenv(name);
        }
        for (const auto& [name, value] : values) ::setenv(name, value, 1);
    }
    ~environment() {
        for (const auto& [name, value] : saved_) {
            if (value) ::setenv(name.c_str(), value->c_str(), 1);
            else ::unsetenv(name.c_str());
        }
    }
    environment(const environment&) = delete;
    environment& operator=(const environment&) = delete;

private:
    std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

cachier::s3_backend_options with_keys(std::string bucket = "my-bucket") {
    cachier::s3_backend_options o;
    o.bucket = std::move(bucket);
    o.access_key_id = "AKIDEXAMPLE";
    o.secret_access_key = "hunter2-secret";
    return o;
}

std::string config_error_of(const cachier::s3_backend_options& o) {
    try {
        (void)resolve(o);
    } catch (const cachier::config_error& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
        return e.what();
    }
    return "no error";
}

std::string url_error_part(const std::string& url) {
    try {
        (void)options_from_url(cachier::detail::parse_url(url));
    } catch (const cachier::url_error& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
        return e.part();
    }
    return "no error";
}

}  // namespace

TEST(S3Url, BucketPrefixAndOptionsComeFromTheUrl) {
    const auto o = options_from_url(cachier::detail::parse_url(
        "s3://my-bucket/team/cache/?endpoint=http://127.0.0.1:7480&region=eu-west-3&path_style=false&"
        "connect_timeout=500ms&request_timeout=3s&pool_size=4&max_object_size=64MiB"));
    EXPECT_EQ(o.bucket, "my-bucket");
    EXPECT_EQ(o.prefix, "team/cache/");
    EXPECT_EQ(o.endpoint, "http://127.0.0.1:7480");
    EXPECT_EQ(o.region, "eu-west-3");
    EXPECT_EQ(o.path_style, false);
    EXPECT_EQ(o.connect_timeout.get(), std::chrono::milliseconds(500));
    EXPECT_EQ(o.request_timeout.get(), std::chrono::seconds(3));
    EXPECT_EQ(o.pool.size, 4U);
    EXPECT_EQ(o.max_object_size.bytes(), 64U << 20);
    const auto defaults = options_from_url(cachier::detail::parse_url("s3://my-bucket"));
    EXPECT_EQ(defaults.prefix, "cachier");
    EXPECT_EQ(defaults.max_object_size.bytes(), std::uint64_t{5} << 30) << "AWS's limit of one PUT";
}

TEST(S3Url, CredentialsInTheUrlAreRefusedWithoutShowingThem) {
    EXPECT_EQ(url_error_part("s3://AKID:hunter2@my-bucket/p"), "userinfo");
    EXPECT_EQ(url_error_part("s3://hunter2@my-bucket/p"), "userinfo");
    EXPECT_EQ(url_error_part("s3:///p"), "host");
    EXPECT_EQ(url_error_part("s3://my-bucket:9000/p"), "port");
    EXPECT_EQ(url_error_part("s3://my-bucket/p?path_style=maybe"), "query");
    EXPECT_EQ(url_error_part("s3://my-bucket/p?max_object_size=lots"), "query");
    EXPECT_EQ(url_error_part("s3://my-bucket/p?secret=hunter2"), "query");
}

TEST(S3Settings, EnvironmentFillsWhatTheOptionsLeaveEmpty) {
    const environment env{{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "hunter2-env"},
                          {"AWS_SESSION_TOKEN", "token"}, {"AWS_DEFAULT_REGION", "ap-south-1"}};
    cachier::s3_backend_options o;
    o.bucket = "my-bucket";
    const auto s = resolve(o);
    EXPECT_EQ(s.access_key_id, "AKIDENV");
    EXPECT_EQ(s.secret_access_key, "hunter2-env");
    EXPECT_EQ(s.session_token, "token");
    EXPECT_EQ(s.region, "ap-south-1");
    EXPECT_EQ(s.endpoint, "https://s3.ap-south-1.amazonaws.com");
    EXPECT_FALSE(s.path_style) << "AWS's own endpoints are addressed virtual-hosted";
    EXPECT_EQ(s.description().find("hunter2"), std::string::npos);
}

TEST(S3Settings, OptionsWinOverTheEnvironment) {
    const environment env{{"AWS_REGION", "eu-north-1"}, {"AWS_ENDPOINT_URL", "http://127.0.0.1:9/"}};
    auto o = with_keys();
    o.prefix = "/a/b/";
    const auto from_env = resolve(o);
    EXPECT_EQ(from_env.endpoint, "http://127.0.0.1:9");
    EXPECT_TRUE(from_env.path_style) << "any other endpoint is addressed path-style";
    EXPECT_EQ(from_env.region, "eu-north-1");
    EXPECT_EQ(from_env.prefix, "a/b");
    o.region = "us-west-2";
    o.endpoint = "https://storage.example:8443";
    o.path_style = false;
    const auto given = resolve(o);
    EXPECT_EQ(given.region, "us-west-2");
    EXPECT_EQ(given.endpoint, "https://storage.example:8443");
    EXPECT_FALSE(given.path_style);
}

TEST(S3Settings, BadSettingsAreClearErrorsThatNeverShowTheSecret) {
    const environment env{};
    EXPECT_NE(config_error_of(with_keys("ab")).find("bucket name"), std::string::npos);
    EXPECT_NE(config_error_of(with_keys("My_Bucket")).find("bucket name"), std::string::npos);
    EXPECT_NE(config_error_of(with_keys("-bucket")).find("bucket name"), std::string::npos);
    auto no_secret = with_keys();
    no_secret.secret_access_key.clear();
    EXPECT_NE(config_error_of(no_secret).find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
    for (const char* endpoint : {"ftp://h", "http://", "http://h/path", "http://AKID:hunter2@h", "h:9000"}) {
        auto o = with_keys();
        o.endpoint = endpoint;
        EXPECT_NE(config_error_of(o).find("endpoint"), std::string::npos) << endpoint;
    }
    auto dotted = with_keys("my.bucket");
    dotted.path_style = false;
    EXPECT_NE(config_error_of(dotted).find("path_style"), std::string::npos);
    auto zero = with_keys();
    zero.request_timeout = std::chrono::seconds(0);
    EXPECT_NE(config_error_of(zero).find("request_timeout"), std::string::npos);
    auto no_room = with_keys();
    no_room.max_object_size = 0;
    EXPECT_NE(config_error_of(no_room).find("max_object_size"), std::string::npos);
}
