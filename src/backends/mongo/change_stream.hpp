#pragma once
// A change stream on the backend's collection (replica sets only), as the connection of a
// change_listener: it turns the server's insert, update and delete events into change events.

#include <functional>
#include <optional>
#include <string>

#include <mongoc/mongoc.h>

#include <cachier/backend.hpp>

namespace cachier::detail::mongo {

/// What one change stream event says of the entries.
struct stream_change {
    std::string function;  ///< empty when the event does not say (a deleted document)
    std::string key;       ///< empty when the event does not say
    change_kind kind = change_kind::removed;
};

/// The change an event reports, or nothing for a claim being taken or renewed (which wakes no one).
std::optional<stream_change> change_of(const bson_t* event);

/// One open change stream, with its own client (a listener's thread blocks in it).
class change_stream {
public:
    /// Opens the stream; throws backend_error with `describe_error`'s words.
    change_stream(const mongoc_uri_t* uri, const std::string& database, const std::string& collection,
                  std::function<std::string(const char*)> describe_error);
    ~change_stream();
    change_stream(const change_stream&) = delete;
    change_stream& operator=(const change_stream&) = delete;

    /// Nothing: a libmongoc call cannot be interrupted; a receive returns after its await time.
    void interrupt() noexcept {}

    /// Delivers the events that come within the await time; throws backend_error when the stream fails.
    void receive(const std::function<void(const stream_change&)>& deliver);

private:
    std::function<std::string(const char*)> describe_error_;
    int await_ms_ = 500;  // the getMore's maxAwaitTimeMS: half the socket timeout, at most 500 ms
    mongoc_client_t* client_ = nullptr;
    mongoc_collection_t* collection_ = nullptr;
    mongoc_change_stream_t* stream_ = nullptr;
};

}  // namespace cachier::detail::mongo
