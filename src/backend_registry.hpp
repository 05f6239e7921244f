#pragma once
// The URL schemes of the backends. Each backend module names its schemes and how it makes a
// backend from a parsed URL; backend_from_url parses a URL once and hands it to the scheme's maker.

#include <memory>
#include <string_view>
#include <vector>

#include <cachier/backend.hpp>

#include "url.hpp"

namespace cachier::detail {

/// One URL scheme and the backend it makes.
struct scheme_registration {
    std::string_view scheme;
    std::shared_ptr<backend> (*make)(const parsed_url& url);
};

using scheme_list = std::vector<scheme_registration>;

scheme_list memory_schemes();  // src/backends/memory
scheme_list file_schemes();    // src/backends/file
scheme_list sql_schemes();     // src/backends/sql (SQLite and PostgreSQL)
scheme_list redis_schemes();   // src/backends/redis
scheme_list mongo_schemes();   // src/backends/mongo
scheme_list s3_schemes();      // src/backends/s3

}  // namespace cachier::detail
