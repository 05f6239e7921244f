#include "change_stream.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include <cachier/errors.hpp>

#include "bson_fields.hpp"

namespace cachier::detail::mongo {
namespace {

/// True when the array or document `fields` has `name` as a key (updatedFields) or as a value
/// (removedFields).
bool names(const bson_t* fields, const char* name) {
    bson_iter_t it;
    if (!bson_iter_init(&it, fields)) return false;
    while (bson_iter_next(&it)) {
        if (std::strcmp(bson_iter_key(&it), name) == 0) return true;
        if (BSON_ITER_HOLDS_UTF8(&it) && std::strcmp(bson_iter_utf8(&it, nullptr), name) == 0) return true;
    }
    return false;
}

}  // namespace

std::optional<stream_change> change_of(const bson_t* event) {
    const std::string operation = text_field(event, "operationType");
    bson_t entry;
    const bool has_entry = nested_field(event, "fullDocument", &entry);
    stream_change change;
    if (has_entry) {
        change.function = binary_field(&entry, "function");
        change.key = text_field(&entry, "key");
    }
    if (operation == "insert" || operation == "replace") {
        if (has_entry && !has_field(&entry, "stored")) return std::nullopt;  // a claim on a missing value
        change.kind = change_kind::stored;
        return change;
    }
    if (operation == "update") {
        bson_t description;
        bson_t updated;
        bson_t removed;
        if (!nested_field(event, "updateDescription", &description)) return change;
        const bool has_updated = nested_field(&description, "updatedFields", &updated);
        const bool has_removed = nested_field(&description, "removedFields", &removed);
        if (has_updated && names(&updated, "stored")) change.kind = change_kind::stored;
        else if (has_removed && names(&removed, "stored")) change.kind = change_kind::removed;
        else if (has_removed && names(&removed, "owner")) change.kind = change_kind::claim_released;
        else return std::nullopt;  // a claim taken or renewed
        return change;
    }
    // delete (a claim released without a value, a removed entry, the TTL monitor), or an event of
    // the collection itself: the entry is not named, every watched function may have changed.
    change.function.clear();
    change.key.clear();
    change.kind = change_kind::removed;
    return change;
}

change_stream::change_stream(const mongoc_uri_t* uri, const std::string& database, const std::string& collection,
                             std::function<std::string(const char*)> describe_error)
    : describe_error_(std::move(describe_error)),
      // A getMore that waits longer than the socket timeout would look like a dead server.
      await_ms_(std::clamp(mongoc_uri_get_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 2000) / 2, 20, 500)) {
    client_ = mongoc_client_new_from_uri(uri);
    if (client_ == nullptr) throw backend_error(describe_error_("cannot make a client for its change stream"));
    mongoc_client_set_error_api(client_, MONGOC_ERROR_API_VERSION_2);
    collection_ = mongoc_client_get_collection(client_, database.c_str(), collection.c_str());
    // The values stay on the server: the events carry names and times only.
    bson_t* pipeline = BCON_NEW("pipeline", "[", "{", "$project", "{", "fullDocument.value", BCON_INT32(0),
                                "updateDescription.updatedFields.value", BCON_INT32(0), "}", "}", "]");
    bson_t* opts = BCON_NEW("fullDocument", BCON_UTF8("updateLookup"), "maxAwaitTimeMS", BCON_INT32(await_ms_));
    stream_ = mongoc_collection_watch(collection_, pipeline, opts);
    bson_destroy(pipeline);
    bson_destroy(opts);
    bson_error_t error;
    const bson_t* reply = nullptr;
    if (mongoc_change_stream_error_document(stream_, &error, &reply)) {
        const std::string message = describe_error_(error.message);
        mongoc_change_stream_destroy(stream_);
        mongoc_collection_destroy(collection_);
        mongoc_client_destroy(client_);
        throw backend_error(message);
    }
}

change_stream::~change_stream() {
    mongoc_change_stream_destroy(stream_);
    mongoc_collection_destroy(collection_);
    mongoc_client_destroy(client_);
}

void change_stream::receive(const std::function<void(const stream_change&)>& deliver) {
    // libmongoc's next() waits for the following batch when one ends: stop after the await time
    // even while events keep coming, so that the listener can see it is stopping.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(await_ms_);
    const bson_t* event = nullptr;
    while (mongoc_change_stream_next(stream_, &event)) {
        if (auto change = change_of(event)) deliver(*change);
        if (std::chrono::steady_clock::now() >= until) break;
    }
    bson_error_t error;
    const bson_t* reply = nullptr;
    if (mongoc_change_stream_error_document(stream_, &error, &reply)) throw backend_error(describe_error_(error.message));
}

}  // namespace cachier::detail::mongo
