// The MongoDB backend: one document per entry in one collection, unique on (function, key), through
// a libmongoc client pool shared by the process's threads. Claims are one findAndModify with upsert
// whose filter matches only a free or expired lease (a duplicate key error means another caller
// holds it); a store sets the value and drops the caller's claim in one update. Times are the
// server's: an offset from the localTime of its hello reply.
//
// Document: { function: <binary: the name's bytes>, key: <string>, value: <binary>, stored: <int64
// server us>, size: <int64>, expires: <int64 server us, optional>, used: <int64 server us, the last
// use touch() recorded, optional>, owner: <string>, lease: <int64 server us> }; a claim on a missing
// value is a document with only function, key, owner and lease.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <poll.h>

#include <mongoc/mongoc.h>

#include <cachier/errors.hpp>

#include "../../fork.hpp"
#include "../common/change_listener.hpp"
#include "../../log.hpp"
#include "bson_fields.hpp"
#include "change_stream.hpp"
#include "mongo_settings.hpp"

namespace cachier::detail::mongo {
namespace {

void append_function(bson_t* doc, std::string_view function) {
    // Names are any bytes: binary, never UTF-8 text (which BSON strings must be).
    bson_append_binary(doc, "function", -1, BSON_SUBTYPE_BINARY, reinterpret_cast<const std::uint8_t*>(function.data()),
                       static_cast<std::uint32_t>(function.size()));
}

void append_text(bson_t* doc, const char* name, std::string_view text) {
    bson_append_utf8(doc, name, -1, text.data(), static_cast<int>(text.size()));
}

/// {function, key}: the filter of one entry.
void append_entry(bson_t* doc, const key_ref& ref) {
    append_function(doc, ref.function);
    append_text(doc, "key", ref.key);
}

/// {field: {$exists: present}}
void append_exists(bson_t* doc, const char* field, bool present) {
    bson_t inner;
    bson_append_document_begin(doc, field, -1, &inner);
    bson_append_bool(&inner, "$exists", -1, present);
    bson_append_document_end(doc, &inner);
}

/// {field: {op: value}}
void append_compare(bson_t* doc, const char* field, const char* op, std::int64_t value) {
    bson_t inner;
    bson_append_document_begin(doc, field, -1, &inner);
    bson_append_int64(&inner, op, -1, value);
    bson_append_document_end(doc, &inner);
}

/// {$or: [{...}, ...]}, each alternative filled by one of `alternatives` (given the bson_t to fill).
template <class... Fill>
void append_any_of(bson_t* doc, Fill&&... alternatives) {
    bson_t any;
    bson_append_array_begin(doc, "$or", -1, &any);
    int index = 0;
    const auto add = [&](auto&& fill) {
        const std::string key = std::to_string(index++);
        bson_t alternative;
        bson_append_document_begin(&any, key.c_str(), -1, &alternative);
        fill(&alternative);
        bson_append_document_end(&any, &alternative);
    };
    (add(alternatives), ...);
    bson_append_array_end(doc, &any);
}

/// {$unset: {fields...: ""}}
void append_unset(bson_t* doc, const std::vector<const char*>& fields) {
    bson_t inner;
    bson_append_document_begin(doc, "$unset", -1, &inner);
    for (const char* f : fields) bson_append_utf8(&inner, f, -1, "", 0);
    bson_append_document_end(doc, &inner);
}

/// The fields of a stored value (a removal unsets them; a claim on the entry stays).
const std::vector<const char*> value_fields{"value", "stored", "size", "expires", "expire_at", "used"};

backend_capabilities mongo_capabilities(const mongo_settings& settings) {
    backend_capabilities caps;
    caps.store_releases_claim = true;
    caps.cheap_entry_count = true;
    caps.cheap_listing = true;
    caps.native_expiry = settings.ttl_index;
    caps.records_last_use = true;  // in each document's "used" field
    caps.min_poll_interval = std::chrono::milliseconds(5);
    if (settings.replica_set_named) {
        // A replica set has change streams: a store wakes the waiters, who look again only
        // once a second in case an event was lost.
        caps.pushes_changes = true;
        caps.max_poll_interval = std::chrono::milliseconds(1000);
    } else {
        // A standalone server may have none: waiters back off to 5 looks a second (a direct
        // connection to a replica set member still hears its change stream).
        caps.max_poll_interval = std::chrono::milliseconds(200);
    }
    return caps;
}

/// libmongoc's global state, made once per process.
void init_driver() {
    static const bool done = [] {
        mongoc_init();
        // libmongoc prints its own messages, down to DEBUG, on stderr by default: its warnings and
        // errors go to cachier's log instead (debug: every failure that matters is reported by
        // the backend itself), the rest nowhere.
        mongoc_log_set_handler(
            [](mongoc_log_level_t level, const char* domain, const char* message, void*) {
                if (level <= MONGOC_LOG_LEVEL_WARNING)
                    log(log_level::debug, std::string("libmongoc ") + domain + ": " + message);
            },
            nullptr);
        return true;
    }();
    (void)done;
}

class mongo_store final : public backend {
public:
    explicit mongo_store(mongo_settings settings)
        : backend("mongodb", mongo_capabilities(settings)), settings_(std::move(settings)) {
        init_driver();
        bson_error_t error;
        uri_ = mongoc_uri_new_with_error(settings_.uri.c_str(), &error);
        if (uri_ == nullptr) throw url_error("query", scrub(error.message));
        // Calls must not wait libmongoc's 30 s defaults for a server that is down.
        default_option(MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 2000);
        default_option(MONGOC_URI_CONNECTTIMEOUTMS, 2000);
        default_option(MONGOC_URI_SOCKETTIMEOUTMS, 2000);
        // A retry after a timeout would double the time a call waits for a server that stopped
        // answering; a failed call is computed anyway.
        for (const char* retry : {MONGOC_URI_RETRYREADS, MONGOC_URI_RETRYWRITES})
            if (!mongoc_uri_has_option(uri_, retry)) mongoc_uri_set_option_as_bool(uri_, retry, false);
        if (!mongoc_uri_has_option(uri_, MONGOC_URI_APPNAME)) mongoc_uri_set_appname(uri_, "cachier");
    }

    ~mongo_store() override {
        listener_.reset();  // its thread uses the URI and this object
        if (pool_ != nullptr) mongoc_client_pool_destroy(pool_);
        mongoc_uri_destroy(uri_);
    }

protected:
    read_result do_read(const key_ref& ref, std::chrono::nanoseconds max_age) override {
        client c(*this);
        document filter;
        append_entry(filter.get(), ref);
        document opts(BCON_NEW("limit", BCON_INT64(1), "projection", "{", "size", BCON_INT32(0), "}"));
        read_result out;
        const std::int64_t now = server_now_us(c);
        for_each_document(c, filter.get(), opts.get(), "read an entry", [&](const bson_t* doc) {
            if (has_field(doc, "value") && (!has_field(doc, "expires") || int_field(doc, "expires") > now))
                out.entry = stored_entry{binary_field(doc, "value"),
                                         std::chrono::microseconds(std::max<std::int64_t>(0, now - int_field(doc, "stored")))};
            if (!out.fresh(max_age) && has_field(doc, "owner"))
                out.claim = int_field(doc, "lease") > now ? claim_state::live : claim_state::expired;
            return false;
        });
        return out;
    }

    bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        client c(*this);
        const std::int64_t now = server_now_us(c);
        document query;
        append_entry(query.get(), ref);
        append_any_of(
            query.get(), [](bson_t* free) { append_exists(free, "owner", false); },
            [now](bson_t* expired) { append_compare(expired, "lease", "$lt", now); },
            [&token](bson_t* ours) { append_text(ours, "owner", token); });
        document update;
        bson_t set;
        bson_append_document_begin(update.get(), "$set", -1, &set);
        append_text(&set, "owner", token);
        bson_append_int64(&set, "lease", -1, now + lease.count() * 1000);
        bson_append_document_end(update.get(), &set);
        // The TTL monitor must not delete a claimed entry (its claim would go with it); the
        // store that ends the claim sets the expiry again.
        if (settings_.ttl_index) append_unset(update.get(), {"expire_at"});

        mongoc_find_and_modify_opts_t* opts = mongoc_find_and_modify_opts_new();
        mongoc_find_and_modify_opts_set_update(opts, update.get());
        mongoc_find_and_modify_opts_set_flags(
            opts, static_cast<mongoc_find_and_modify_flags_t>(MONGOC_FIND_AND_MODIFY_UPSERT |
                                                               MONGOC_FIND_AND_MODIFY_RETURN_NEW));
        reply_doc reply;
        bson_error_t error;
        const bool ok = mongoc_collection_find_and_modify_with_opts(c.collection(), query.get(), opts, &reply.doc, &error);
        mongoc_find_and_modify_opts_destroy(opts);
        if (ok) return true;
        if (error.code == 11000) return false;  // the entry exists with another's live claim
        c.failed("claim an entry", error);
    }

    void do_renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        client c(*this);
        document filter;
        append_entry(filter.get(), ref);
        append_text(filter.get(), "owner", token);
        document update(BCON_NEW("$set", "{", "lease", BCON_INT64(server_now_us(c) + lease.count() * 1000), "}"));
        c.update(filter.get(), update.get(), false, false, "renew a claim");
    }

    void do_release_claim(const key_ref& ref, const claim_token& token) override {
        client c(*this);
        document only_claim;
        append_entry(only_claim.get(), ref);
        append_text(only_claim.get(), "owner", token);
        append_exists(only_claim.get(), "value", false);
        if (c.remove(only_claim.get(), false, "release a claim") > 0) return;
        document filter;
        append_entry(filter.get(), ref);
        append_text(filter.get(), "owner", token);
        document update;
        append_unset(update.get(), {"owner", "lease"});
        c.update(filter.get(), update.get(), false, false, "release a claim");
    }

    void do_store(const key_ref& ref, const store_request& request) override {
        client c(*this);
        const std::int64_t now = server_now_us(c);
        // {$set: {value, stored, size[, expires]}, $unset: {[owner, lease,] [expires]}}
        const auto update_for = [&](bool release) {
            auto* doc = bson_new();
            bson_t set;
            bson_append_document_begin(doc, "$set", -1, &set);
            bson_append_binary(&set, "value", -1, BSON_SUBTYPE_BINARY,
                               reinterpret_cast<const std::uint8_t*>(request.value.data()),
                               static_cast<std::uint32_t>(request.value.size()));
            bson_append_int64(&set, "stored", -1,
                              now - std::chrono::duration_cast<std::chrono::microseconds>(request.age).count());
            bson_append_int64(&set, "size", -1, static_cast<std::int64_t>(request.value.size()));
            if (request.expires_after) {
                const std::int64_t expires =
                    now + std::chrono::duration_cast<std::chrono::microseconds>(*request.expires_after).count();
                bson_append_int64(&set, "expires", -1, expires);
                if (settings_.ttl_index) bson_append_date_time(&set, "expire_at", -1, expires / 1000);
            }
            bson_append_document_end(doc, &set);
            std::vector<const char*> unset;
            if (release) unset = {"owner", "lease"};
            if (!request.expires_after) unset.insert(unset.end(), {"expires", "expire_at"});
            if (!unset.empty()) append_unset(doc, unset);
            return doc;
        };
        if (request.release != nullptr) {
            // Ours: the value goes in and the claim out, in one update.
            document filter;
            append_entry(filter.get(), ref);
            append_text(filter.get(), "owner", *request.release);
            document update(update_for(true));
            if (c.update(filter.get(), update.get(), false, false, "store a value") > 0) return;
        }
        document filter;
        append_entry(filter.get(), ref);
        document update(update_for(false));
        c.update(filter.get(), update.get(), true, false, "store a value");
    }

    bool do_remove(const key_ref& ref) override {
        client c(*this);
        document claimed;  // a claim on it stays
        append_entry(claimed.get(), ref);
        append_exists(claimed.get(), "value", true);
        append_exists(claimed.get(), "owner", true);
        document unset;
        append_unset(unset.get(), value_fields);
        if (c.update(claimed.get(), unset.get(), false, false, "remove an entry") > 0) return true;
        document filter;
        append_entry(filter.get(), ref);
        append_exists(filter.get(), "value", true);
        return c.remove(filter.get(), false, "remove an entry") > 0;
    }

    void do_clear(std::string_view function) override {
        client c(*this);
        document claimed;
        append_function(claimed.get(), function);
        append_exists(claimed.get(), "owner", true);
        document unset;
        append_unset(unset.get(), value_fields);
        c.update(claimed.get(), unset.get(), false, true, "clear a function");
        document unclaimed;
        append_function(unclaimed.get(), function);
        append_exists(unclaimed.get(), "owner", false);
        c.remove(unclaimed.get(), true, "clear a function");
    }

    void do_clear_claims(std::string_view function) override {
        client c(*this);
        document only_claims;
        append_function(only_claims.get(), function);
        append_exists(only_claims.get(), "value", false);
        c.remove(only_claims.get(), true, "clear claims");
        document filter;
        append_function(filter.get(), function);
        document unset;
        append_unset(unset.get(), {"owner", "lease"});
        c.update(filter.get(), unset.get(), false, true, "clear claims");
    }

    std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        client c(*this);
        const std::int64_t now = server_now_us(c);
        const std::int64_t age_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::min(max_age, std::chrono::nanoseconds(std::chrono::hours(24 * 365 * 100))))
                                        .count();
        const auto old = [&](bool claimed) {
            auto* doc = bson_new();
            append_function(doc, function);
            append_exists(doc, "value", true);
            append_exists(doc, "owner", claimed);
            append_any_of(
                doc, [&](bson_t* by_age) { append_compare(by_age, "stored", "$lt", now - age_us); },
                [&](bson_t* by_expiry) { append_compare(by_expiry, "expires", "$lte", now); });
            return doc;
        };
        document claimed(old(true));
        document unset;
        append_unset(unset.get(), value_fields);
        const auto kept_claims = c.update(claimed.get(), unset.get(), false, true, "remove old entries");
        document unclaimed(old(false));
        return static_cast<std::size_t>(kept_claims + c.remove(unclaimed.get(), true, "remove old entries"));
    }

    std::uint64_t do_entry_count(std::string_view function) override {
        client c(*this);
        document filter;
        append_live_values(filter.get(), function, server_now_us(c));
        reply_doc reply;
        bson_error_t error;
        const std::int64_t n = mongoc_collection_count_documents(c.collection(), filter.get(), nullptr, nullptr, &reply.doc, &error);
        if (n < 0) c.failed("count entries", error);
        return static_cast<std::uint64_t>(n);
    }

    // One update of every touched value: {function, key: {$in: keys}, stored: {$exists}} -> {$set: {used}}.
    void do_touch(std::string_view function, std::span<const std::string> keys) override {
        client c(*this);
        const std::int64_t now = server_now_us(c);
        document filter;
        append_function(filter.get(), function);
        bson_t key_filter;
        bson_t any;
        bson_append_document_begin(filter.get(), "key", -1, &key_filter);
        bson_append_array_begin(&key_filter, "$in", -1, &any);
        for (std::size_t i = 0; i < keys.size(); ++i) append_text(&any, std::to_string(i).c_str(), keys[i]);
        bson_append_array_end(&key_filter, &any);
        bson_append_document_end(filter.get(), &key_filter);
        append_exists(filter.get(), "stored", true);
        document update(BCON_NEW("$set", "{", "used", BCON_INT64(now), "}"));
        c.update(filter.get(), update.get(), false, true, "record the use of entries");
    }

    void do_list_functions(const visitor<function_info>& visit) override {
        client c(*this);
        const std::int64_t now = server_now_us(c);
        std::map<std::string, function_info> functions;
        document filter;
        append_exists(filter.get(), "value", true);
        document opts(BCON_NEW("projection", "{", "value", BCON_INT32(0), "}"));
        for_each_document(c, filter.get(), opts.get(), "list functions", [&](const bson_t* doc) {
            if (has_field(doc, "expires") && int_field(doc, "expires") <= now) return true;
            const std::string name = binary_field(doc, "function");
            function_info& info = functions[name];
            info.name = name;
            const std::chrono::nanoseconds age = std::chrono::microseconds(now - int_field(doc, "stored"));
            info.add(static_cast<std::uint64_t>(int_field(doc, "size")), age);
            return true;
        });
        for (const auto& [name, info] : functions)
            if (!visit(info)) return;
    }

    void do_list_entries(std::string_view function, const visitor<entry_info>& visit) override {
        client c(*this);
        const std::int64_t now = server_now_us(c);
        document filter;
        append_function(filter.get(), function);
        document opts(BCON_NEW("projection", "{", "value", BCON_INT32(0), "}", "sort", "{", "key", BCON_INT32(1), "}"));
        for_each_document(c, filter.get(), opts.get(), "list entries", [&](const bson_t* doc) {
            entry_info e;
            e.key = text_field(doc, "key");
            e.has_value = has_field(doc, "stored") && (!has_field(doc, "expires") || int_field(doc, "expires") > now);
            if (e.has_value) {
                e.size = static_cast<std::uint64_t>(int_field(doc, "size"));
                const std::int64_t stored = int_field(doc, "stored");
                e.age = std::chrono::microseconds(now - stored);
                const std::int64_t used = std::max(stored, int_field(doc, "used"));
                e.since_last_use = std::chrono::microseconds(std::max<std::int64_t>(0, now - used));
            }
            if (has_field(doc, "owner"))
                e.claim = int_field(doc, "lease") > now ? claim_state::live : claim_state::expired;
            return (!e.has_value && e.claim == claim_state::none) || visit(e);
        });
    }

    void do_watch(std::string_view function) override {
        {
            client c(*this);
            (void)server_now_us(c);  // hello has answered: whether the server is a replica set is known
        }
        if (!replica_set_.load(std::memory_order_acquire)) {
            say_once(said_polling_, "mongodb at " + settings_.description +
                                        ": a standalone server has no change streams; waiters poll for values");
            return;
        }
        detail::change_listener<change_stream>* listener = nullptr;
        {
            const std::lock_guard lock(stream_mutex_);
            ++watched_functions_[std::string(function)];
            if (!listener_) {
                listener_ = std::make_unique<detail::change_listener<change_stream>>(
                    "mongodb change stream", [this] { return open_change_stream(); },
                    [this](change_stream&, const std::string&, bool on) { streaming_ = on; },
                    [this](change_stream& stream, int wake_fd) { receive_changes(stream, wake_fd); });
                say_once(said_streaming_, "mongodb at " + settings_.description +
                                              ": waiters hear of values through a change stream (replica set)");
            }
            listener = listener_.get();
        }
        listener->watch(changes_channel);
    }

    void do_unwatch(std::string_view function) override {
        const std::lock_guard lock(stream_mutex_);
        const auto it = watched_functions_.find(std::string(function));
        if (it == watched_functions_.end()) return;
        if (--it->second == 0) watched_functions_.erase(it);
        if (listener_) listener_->unwatch(changes_channel);
    }

private:
    /// The one channel of the change listener: the stream covers the whole collection.
    static constexpr const char* changes_channel = "collection";

    static void say_once(std::once_flag& flag, const std::string& message) {
        std::call_once(flag, [&] { log(log_level::debug, message); });
    }

    std::unique_ptr<change_stream> open_change_stream() {
        return std::make_unique<change_stream>(uri_, settings_.database, settings_.collection, [this](const char* message) {
            return "mongodb at " + settings_.description + ": " + scrub(message);
        });
    }

    /// The listener's thread: events while something is watched, else a wait to be woken.
    void receive_changes(change_stream& stream, int wake_fd) {
        if (!streaming_) {
            pollfd woken{wake_fd, POLLIN, 0};
            ::poll(&woken, 1, 1000);
            return;
        }
        // The stream covers the collection; only the watched functions' changes are reported.
        stream.receive([this](const stream_change& change) {
            std::vector<std::string> functions;
            {
                const std::lock_guard lock(stream_mutex_);
                if (!change.function.empty() && watched_functions_.count(change.function) > 0)
                    functions.push_back(change.function);
                else if (change.function.empty())  // naming no entry: any watched one may have changed
                    for (const auto& [name, count] : watched_functions_) functions.push_back(name);
            }
            for (const auto& name : functions) report_change({name, change.key, change.kind});
        });
    }

    /// A client popped from the pool for one operation, with the collection.
    class client {
    public:
        explicit client(mongo_store& store) : store_(store), pool_(store.pool()) {
            client_ = mongoc_client_pool_pop(pool_);
            collection_ = mongoc_client_get_collection(client_, store.settings_.database.c_str(),
                                                       store.settings_.collection.c_str());
            try {
                store.ensure_index(*this);
            } catch (...) {
                release();  // the destructor does not run for a half-built object
                throw;
            }
        }
        ~client() { release(); }
        client(const client&) = delete;
        client& operator=(const client&) = delete;

        [[nodiscard]] mongoc_client_t* get() const noexcept { return client_; }
        [[nodiscard]] mongoc_collection_t* collection() const noexcept { return collection_; }

        [[noreturn]] void failed(const std::string& doing, const bson_error_t& error) const {
            throw backend_error("mongodb at " + store_.settings_.description + " could not " + doing + ": " +
                                store_.scrub(error.message));
        }

        /// updateOne/updateMany; returns how many documents matched (an upsert counts as one).
        std::int64_t update(const bson_t* filter, const bson_t* update, bool upsert, bool many, const char* doing) const {
            document opts(BCON_NEW("upsert", BCON_BOOL(upsert)));
            reply_doc reply;
            bson_error_t error;
            const bool ok = many ? mongoc_collection_update_many(collection_, filter, update, opts.get(), &reply.doc, &error)
                                 : mongoc_collection_update_one(collection_, filter, update, opts.get(), &reply.doc, &error);
            if (!ok) failed(doing, error);
            return int_field(&reply.doc, "matchedCount") + int_field(&reply.doc, "upsertedCount");
        }

        /// deleteOne/deleteMany; returns how many documents went.
        std::int64_t remove(const bson_t* filter, bool many, const char* doing) const {
            reply_doc reply;
            bson_error_t error;
            const bool ok = many ? mongoc_collection_delete_many(collection_, filter, nullptr, &reply.doc, &error)
                                 : mongoc_collection_delete_one(collection_, filter, nullptr, &reply.doc, &error);
            if (!ok) failed(doing, error);
            return int_field(&reply.doc, "deletedCount");
        }

    private:
        void release() noexcept {
            mongoc_collection_destroy(collection_);
            mongoc_client_pool_push(pool_, client_);
        }

        mongo_store& store_;
        mongoc_client_pool_t* pool_;
        mongoc_client_t* client_ = nullptr;
        mongoc_collection_t* collection_ = nullptr;
    };

    void default_option(const char* name, std::int32_t value) {
        if (!mongoc_uri_has_option(uri_, name)) mongoc_uri_set_option_as_int32(uri_, name, value);
    }

    std::string scrub(const char* message) const { return scrub_secrets(message, settings_.url); }

    /// The pool, made at first use (and again in a forked child, which must not use its parent's).
    mongoc_client_pool_t* pool() {
        const std::lock_guard lock(pool_mutex_);
        if (pool_ == nullptr) {
            pool_ = mongoc_client_pool_new(uri_);
            if (pool_ == nullptr) throw backend_error("mongodb: cannot make a client pool for " + settings_.description);
            mongoc_client_pool_set_error_api(pool_, MONGOC_ERROR_API_VERSION_2);
        }
        return pool_;
    }

    /// The unique index on (function, key), created once per process (and per fork).
    void ensure_index(client& c) {
        if (index_ready_.load(std::memory_order_acquire)) return;
        const std::lock_guard lock(index_mutex_);
        if (index_ready_.load(std::memory_order_relaxed)) return;
        document command(BCON_NEW("createIndexes", BCON_UTF8(settings_.collection.c_str())));
        bson_t indexes;
        bson_append_array_begin(command.get(), "indexes", -1, &indexes);
        document unique(BCON_NEW("key", "{", "function", BCON_INT32(1), "key", BCON_INT32(1), "}", "name",
                                 BCON_UTF8("cachier_function_key"), "unique", BCON_BOOL(true)));
        bson_append_document(&indexes, "0", -1, unique.get());
        if (settings_.ttl_index) {
            // The server's TTL monitor drops entries once expire_at has passed (reads never
            // return them after `expires` anyway).
            document ttl(BCON_NEW("key", "{", "expire_at", BCON_INT32(1), "}", "name", BCON_UTF8("cachier_expiry"),
                                  "expireAfterSeconds", BCON_INT32(0)));
            bson_append_document(&indexes, "1", -1, ttl.get());
        }
        bson_append_array_end(command.get(), &indexes);
        reply_doc reply;
        bson_error_t error;
        if (!mongoc_collection_write_command_with_opts(c.collection(), command.get(), nullptr, &reply.doc, &error))
            c.failed("create its index", error);
        index_ready_.store(true, std::memory_order_release);
    }

    /// The server's time in microseconds, from an offset to this machine's steady clock measured
    /// with a hello command (again every 30 s, so that drift stays small).
    std::int64_t server_now_us(client& c) {
        const std::int64_t local = local_us();
        if (local - offset_measured_at_.load(std::memory_order_relaxed) > 30'000'000) measure_clock(c);
        return local + clock_offset_us_.load(std::memory_order_relaxed);
    }

    void measure_clock(client& c) {
        document hello(BCON_NEW("hello", BCON_INT32(1)));
        reply_doc reply;
        bson_error_t error;
        const std::int64_t before = local_us();
        if (!mongoc_client_command_simple(c.get(), "admin", hello.get(), nullptr, &reply.doc, &error))
            c.failed("read the server's time", error);
        const std::int64_t after = local_us();
        bson_iter_t it;
        if (!bson_iter_init_find(&it, &reply.doc, "localTime") || !BSON_ITER_HOLDS_DATE_TIME(&it))
            throw backend_error("mongodb at " + settings_.description + ": hello has no localTime");
        clock_offset_us_.store(bson_iter_date_time(&it) * 1000 - (before + after) / 2, std::memory_order_relaxed);
        if (!text_field(&reply.doc, "setName").empty()) replica_set_.store(true, std::memory_order_release);
        offset_measured_at_.store(after, std::memory_order_relaxed);
    }

    static std::int64_t local_us() {
        return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }

    /// {function, value exists, not expired}
    static void append_live_values(bson_t* doc, std::string_view function, std::int64_t now) {
        append_function(doc, function);
        append_exists(doc, "value", true);
        append_any_of(
            doc, [](bson_t* no_expiry) { append_exists(no_expiry, "expires", false); },
            [now](bson_t* later) { append_compare(later, "expires", "$gt", now); });
    }

    /// Calls `visit(document)` for each document `filter` finds until it returns false.
    template <class Visit>
    void for_each_document(client& c, const bson_t* filter, const bson_t* opts, const char* doing, Visit&& visit) {
        mongoc_cursor_t* cursor = mongoc_collection_find_with_opts(c.collection(), filter, opts, nullptr);
        const bson_t* doc = nullptr;
        bool going = true;
        while (going && mongoc_cursor_next(cursor, &doc)) going = visit(doc);
        bson_error_t error;
        const bool failed = mongoc_cursor_error(cursor, &error);
        mongoc_cursor_destroy(cursor);
        if (failed) c.failed(doing, error);
    }

    const mongo_settings settings_;
    mongoc_uri_t* uri_ = nullptr;
    std::mutex pool_mutex_;
    mongoc_client_pool_t* pool_ = nullptr;
    std::mutex index_mutex_;
    std::atomic<bool> index_ready_{false};
    std::atomic<std::int64_t> clock_offset_us_{0};
    std::atomic<std::int64_t> offset_measured_at_{std::numeric_limits<std::int64_t>::min() / 2};
    std::atomic<bool> replica_set_{false};  // hello named a replica set: change streams exist
    std::once_flag said_polling_;
    std::once_flag said_streaming_;
    std::mutex stream_mutex_;
    std::map<std::string, std::size_t> watched_functions_;
    bool streaming_ = false;  // the listener's thread only
    std::unique_ptr<detail::change_listener<change_stream>> listener_;  // made at the first watch
    on_fork_child fork_{[this] {
        renew_lock(pool_mutex_);
        renew_lock(index_mutex_);
        renew_lock(stream_mutex_);
        pool_ = nullptr;  // the parent's: left alone (its sockets and threads are the parent's)
    }};
};

}  // namespace

std::shared_ptr<backend> make_mongo_backend(const mongo_settings& settings) {
    return std::make_shared<mongo_store>(settings);
}

}  // namespace cachier::detail::mongo
