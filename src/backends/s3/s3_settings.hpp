#pragma once
// What the S3 backend is made from: s3_backend_options with the environment's defaults applied
// and every field checked, and the options of an s3:// URL.

#include <chrono>
#include <memory>
#include <string>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "../../url.hpp"

namespace cachier::detail::s3 {

struct s3_settings {
    std::string bucket;
    std::string prefix;             // without leading or trailing '/'; may be empty
    std::string endpoint;           // scheme://host[:port], no trailing '/'
    std::string region;
    std::string access_key_id;
    std::string secret_access_key;  // never in a message
    std::string session_token;      // never in a message
    bool path_style = true;
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds request_timeout{5000};
    std::size_t pool_size = 8;
    std::uint64_t max_object_size = std::uint64_t{5} << 30;

    /// "s3://bucket/prefix at endpoint", for messages.
    [[nodiscard]] std::string description() const;
};

/// The options with $AWS_* defaults for what they leave empty, checked. Throws config_error
/// naming the field (never a secret's value).
s3_settings resolve(const s3_backend_options& options);

/// The options of an s3:// URL; throws url_error naming the wrong part.
s3_backend_options options_from_url(const parsed_url& url);

/// The error of a build without the S3 backend.
backend_not_built not_built();

/// The S3 backend; throws backend_not_built in builds without it.
std::shared_ptr<backend> make_s3_backend(const s3_settings& settings);

}  // namespace cachier::detail::s3
