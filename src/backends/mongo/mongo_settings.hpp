#pragma once
// What the MongoDB backend is made from: a URL for libmongoc (cachier's own options taken out),
// the database and collection, and a description for messages (never with user or password).

#include <memory>
#include <string>
#include <string_view>

#include <cachier/backend.hpp>

#include "../../url.hpp"

namespace cachier::detail::mongo {

struct mongo_settings {
    std::string uri;          // for libmongoc: userinfo percent-encoded, without `collection`
    std::string database;     // the URL's path, or "cachier"
    std::string collection;   // the `collection` option, or the factory's argument
    std::string description;  // mongodb://***@host:port/db, for messages
    bool ttl_index = false;   // `ttl_index=true`: a TTL index lets the server drop expired entries
    bool replica_set_named = false;  // replicaSet=... or mongodb+srv://: change streams are expected
    parsed_url url;           // what libmongoc's messages are scrubbed of
};

/// The settings of a mongodb:// or mongodb+srv:// URL; `collection` unless the URL names one.
/// Throws url_error naming the wrong part.
mongo_settings settings_from_url(const parsed_url& url, std::string_view collection);

/// The MongoDB backend; throws backend_not_built in builds without libmongoc.
std::shared_ptr<backend> make_mongo_backend(const mongo_settings& settings);

}  // namespace cachier::detail::mongo
