// The S3 backend: one object per entry and one per claim, under {prefix}/{function}/, through
// s3_http (libcurl, SigV4, kept-alive connections). Claims are conditional writes: a claim object
// created with If-None-Match: * (412 or 409: another caller holds it), an expired one taken over
// with If-Match: <its ETag> (a compare-and-swap: 404, 409 or 412 mean somebody else was first).
// Times are the server's (server_clock, from the replies' Date).
//
// Keys: {prefix}/{function, percent-encoded}/v/{key} holds the envelope and value, with metadata
// x-amz-meta-stored (server us) and x-amz-meta-expires (server us, optional);
// {prefix}/{function}/c/{key} holds a claim: "{lease end, server us} {owner token}".

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <pugixml.hpp>

#include <cachier/errors.hpp>

#include "../../digest.hpp"
#include "../../fork.hpp"
#include "../../log.hpp"
#include "s3_http.hpp"
#include "s3_settings.hpp"

namespace cachier::detail::s3 {
namespace {

backend_capabilities s3_capabilities() {
    backend_capabilities caps;
    // A hit of read_or_claim is one GET, as a read's is: a miss claims in the same call.
    caps.claim_on_read = true;
    caps.store_releases_claim = true;
    caps.records_last_use = true;  // in an empty object beside each value
    // A waiter's look is one request while the claim lives (do_poll): backing off from 10 ms to
    // 250 ms makes a wait cost 4 requests a second once past its first second.
    caps.min_poll_interval = std::chrono::milliseconds(10);
    caps.max_poll_interval = std::chrono::milliseconds(250);
    return caps;
}

/// A claim object's body.
struct claim_body {
    std::int64_t lease_end_us = 0;
    std::string owner;

    [[nodiscard]] std::string text() const { return std::to_string(lease_end_us) + " " + owner; }

    static std::optional<claim_body> parse(std::string_view text) {
        const auto space = text.find(' ');
        if (space == std::string_view::npos || space == 0) return std::nullopt;
        claim_body c;
        try {
            c.lease_end_us = std::stoll(std::string(text.substr(0, space)));
        } catch (const std::exception&) {
            return std::nullopt;
        }
        c.owner = std::string(text.substr(space + 1));
        return c;
    }
};

/// One object of a listing.
struct listed_object {
    std::string key;
    std::int64_t last_modified_us = 0;
    std::uint64_t size = 0;
};

std::optional<std::int64_t> meta_number(const s3_response& r, std::string_view name) {
    const auto text = r.meta(name);
    if (!text) return std::nullopt;
    try {
        return std::stoll(*text);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string xml_escaped(std::string_view text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += c;
        }
    }
    return out;
}

/// Content-MD5 of a body (DeleteObjects requires it): base64 of the MD5 digest.
std::string content_md5(std::string_view body) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    EVP_Digest(body.data(), body.size(), digest.data(), &length, EVP_md5(), nullptr);
    std::array<unsigned char, 4 * EVP_MAX_MD_SIZE / 3 + 4> encoded{};
    const int n = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(length));
    return {reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(n)};
}

class s3_store final : public backend {
public:
    explicit s3_store(const s3_settings& settings) : backend("s3", s3_capabilities()), http_(settings) {}

protected:
    read_result do_read(const key_ref& ref, std::chrono::nanoseconds max_age) override {
        read_result out = read_value(ref);
        if (!out.fresh(max_age)) out.claim = claim_state_of(read_claim(ref).first);
        return out;
    }

    // A waiter reads the claim first: while it lives the value is not worth a request (its owner
    // stores just before releasing), so a look costs one request until the claim ends.
    read_result do_poll(const key_ref& ref, std::chrono::nanoseconds max_age) override {
        const claim_state claim = claim_state_of(read_claim(ref).first);
        if (claim == claim_state::live) {
            read_result out;
            out.claim = claim;
            return out;
        }
        read_result out = read_value(ref);
        if (!out.fresh(max_age)) out.claim = claim;
        return out;
    }

    read_result do_read_or_claim(const key_ref& ref, const claim_request& request) override {
        read_result out = read_value(ref);
        if (out.fresh(request.max_age)) return out;
        if (!do_try_claim(ref, request.token, request.lease)) {
            out.claim = claim_state::live;
            return out;
        }
        // Claimed: a value stored between the read and the claim must not be computed again.
        read_result again = read_value(ref);
        if (again.fresh(request.max_age)) {
            do_release_claim(ref, request.token);
            return again;
        }
        again.claimed = true;
        return again;
    }

    bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        const bool won = try_claim_object(ref, token, lease);
        if (won) held_until(ref, token, http_.clock().now_us() + lease.count() * 1000);
        return won;
    }

private:
    /// The value object alone (one GET).
    read_result read_value(const key_ref& ref) {
        read_result out;
        const auto value = http_.send(get(value_key(ref)), "read an entry");
        const std::int64_t now = http_.clock().now_us();
        if (value.status == 200) {
            const auto stored = meta_number(value, "stored");
            const auto expires = meta_number(value, "expires");
            if (stored && (!expires || *expires > now))
                out.entry = stored_entry{value.body, std::chrono::microseconds(std::max<std::int64_t>(0, now - *stored))};
        } else if (value.status != 404) {
            fail("read an entry", value);
        }
        return out;
    }

    /// Remembers (or forgets, with 0) until when this process's claim holds, so that its release
    /// needs no GET while the lease surely lasts.
    void held_until(const key_ref& ref, const claim_token& token, std::int64_t lease_end_us) {
        const std::lock_guard lock(held_mutex_);
        const std::string id = claim_key(ref) + '\n' + token;
        if (lease_end_us == 0) held_.erase(id);
        else held_[id] = lease_end_us;
    }

    [[nodiscard]] bool surely_held(const key_ref& ref, const claim_token& token) {
        const std::lock_guard lock(held_mutex_);
        const auto it = held_.find(claim_key(ref) + '\n' + token);
        return it != held_.end() && it->second - surely_margin_us > http_.clock().now_us();
    }

    static constexpr std::int64_t surely_margin_us = 2'000'000;

    bool try_claim_object(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) {
        const std::string key = claim_key(ref);
        for (int attempt = 0; attempt < 4; ++attempt) {
            const claim_body mine{http_.clock().now_us() + lease.count() * 1000, token};
            const auto created = http_.send(put(key, mine.text(), {"If-None-Match: *"}), "claim an entry");
            if (created.status == 200) return true;
            if (created.status != 412 && created.status != 409) fail("claim an entry", created);
            // Taken: ours already, or expired (then a compare-and-swap on its ETag takes it over).
            const auto [held, etag] = read_claim(ref);
            if (!held) continue;  // released meanwhile: create it again
            if (held->owner != token && held->lease_end_us > http_.clock().now_us()) return false;
            const auto swapped = http_.send(put(key, mine.text(), {"If-Match: " + etag}), "claim an entry");
            if (swapped.status == 200) return true;
            if (swapped.status != 412 && swapped.status != 409 && swapped.status != 404) fail("claim an entry", swapped);
        }
        return false;  // others kept winning the races: theirs
    }

protected:
    void do_renew_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds lease) override {
        const auto [held, etag] = read_claim(ref);
        if (!held || held->owner != token) return;
        const claim_body renewed{http_.clock().now_us() + lease.count() * 1000, token};
        const auto r = http_.send(put(claim_key(ref), renewed.text(), {"If-Match: " + etag}), "renew a claim");
        if (r.status == 200) held_until(ref, token, renewed.lease_end_us);
        else if (r.status != 412 && r.status != 404 && r.status != 409) fail("renew a claim", r);
    }

    void do_release_claim(const key_ref& ref, const claim_token& token) override {
        // While the lease surely lasts nobody else can have taken the claim over: no need to look.
        if (!surely_held(ref, token)) {
            const auto [held, etag] = read_claim(ref);
            if (!held || held->owner != token) return;
        }
        held_until(ref, token, 0);
        remove_object(claim_key(ref), "release a claim");
    }

    void do_store(const key_ref& ref, const store_request& request) override {
        // Checked before anything is sent: a PUT the server must refuse would upload the whole value.
        if (request.value.size() > http_.settings().max_object_size)
            throw backend_error(http_.settings().description() + " could not store a value of " +
                                std::to_string(request.value.size()) + " bytes: one PUT stores at most " +
                                std::to_string(http_.settings().max_object_size) +
                                " (max_object_size); the value is returned, not stored");
        remember_long_name(ref.function);
        const std::int64_t now = http_.clock().now_us();
        std::vector<std::string> headers{
            "x-amz-meta-stored: " +
            std::to_string(now - std::chrono::duration_cast<std::chrono::microseconds>(request.age).count())};
        if (request.expires_after)
            headers.push_back("x-amz-meta-expires: " +
                              std::to_string(now + std::chrono::duration_cast<std::chrono::microseconds>(
                                                       *request.expires_after)
                                                       .count()));
        const auto r = http_.send(put(value_key(ref), request.value, std::move(headers)), "store a value");
        if (r.status == 400 && r.error_code() == "EntityTooLarge")
            throw backend_error(http_.settings().description() + " refused a value of " +
                                std::to_string(request.value.size()) +
                                " bytes as too large (EntityTooLarge): the server's limit is lower than "
                                "max_object_size; the value is returned, not stored");
        if (r.status != 200) fail("store a value", r);
        if (request.release != nullptr) do_release_claim(ref, *request.release);
    }

    bool do_remove(const key_ref& ref) override {
        s3_request head = get(value_key(ref));
        head.method = "HEAD";
        const auto found = http_.send(head, "remove an entry");
        if (found.status == 404) return false;
        if (found.status != 200) fail("remove an entry", found);
        delete_objects({value_key(ref), use_key(ref)}, "remove an entry");
        return true;
    }

    // One DeleteObjects per 500 entries (their values and use marks). It cannot tell which values
    // existed: the keys come from a listing, so all are counted.
    std::size_t do_remove_entries(std::string_view function, std::span<const std::string> keys) override {
        std::vector<std::string> objects;
        for (const auto& key : keys) {
            objects.push_back(value_key({function, key}));
            objects.push_back(use_key({function, key}));
        }
        delete_objects(objects, "remove entries");
        return keys.size();
    }

    // A use is an empty object beside the value, whose LastModified is the time of the use: one PUT
    // per entry (S3 has no batch write).
    void do_touch(std::string_view function, std::span<const std::string> keys) override {
        for (const auto& key : keys) {
            const auto r = http_.send(put(use_key({function, key}), {}), "record the use of an entry");
            if (r.status != 200) fail("record the use of an entry", r);
        }
    }

    void do_clear(std::string_view function) override {
        remove_all(function_prefix(function) + "v/", "clear a function");
        remove_all(function_prefix(function) + "u/", "clear a function");
    }

    void do_clear_claims(std::string_view function) override {
        remove_all(function_prefix(function) + "c/", "clear claims");
    }

    std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        // A value's age is its x-amz-meta-stored (a copy keeps the age it had). The listing's
        // LastModified only rules out HEAD requests for what is old by a wide margin: it follows
        // the store by up to about a second on RADOS Gateway, and a copy is older than it says.
        const std::int64_t now = http_.clock().now_us();
        const auto age_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::min(max_age, std::chrono::nanoseconds(std::chrono::hours(24 * 365 * 100))))
                                .count();
        const std::string values = function_prefix(function) + "v/";
        std::vector<std::string> old;
        list(values, "remove old entries", [&](const listed_object& o) {
            if (o.last_modified_us + last_modified_margin_us < now - age_us) {
                old.push_back(o.key);
                return;
            }
            const auto meta = value_metadata(o.key, "remove old entries");
            if (meta && (meta->stored_us < now - age_us || (meta->expires_us && *meta->expires_us <= now)))
                old.push_back(o.key);
        });
        const std::size_t removed = old.size();
        const std::string uses = function_prefix(function) + "u/";
        for (std::size_t i = 0; i < removed; ++i) old.push_back(uses + old[i].substr(values.size()));
        delete_objects(old, "remove old entries");
        return removed;
    }

    // One ListObjectsV2 per 1,000 values, no HEAD: expired values not yet removed are counted, and
    // ages are by LastModified (which trails the store a little).
    function_info do_summary(std::string_view function) override {
        return summarize(std::string(function), function_prefix(function) + "v/", "summarize a function");
    }

    void do_list_functions(const visitor<function_info>& visit) override {
        // Ages from each value's metadata (a HEAD per value): a copied value keeps its age.
        each_function("list functions", [&](std::string name, const std::string& values) {
            function_info info;
            info.name = std::move(name);
            const std::int64_t now = http_.clock().now_us();
            list(values, "list functions", [&](const listed_object& o) {
                const auto meta = value_metadata(o.key, "list functions");
                if (!meta || (meta->expires_us && *meta->expires_us <= now)) return;
                const std::chrono::nanoseconds age = std::chrono::microseconds(std::max<std::int64_t>(0, now - meta->stored_us));
                info.add(o.size, age);
            });
            return info.entries == 0 || visit(info);
        });
    }

    // Without HEAD, as do_summary: store passes over the whole storage summarize it often.
    void do_summaries(const visitor<function_info>& visit) override {
        each_function("summarize functions", [&](std::string name, const std::string& values) {
            const function_info info = summarize(std::move(name), values, "summarize functions");
            return info.entries == 0 || visit(info);
        });
    }

    void do_list_entries(std::string_view function, const visitor<entry_info>& visit) override {
        // Values and claims, in key order; a value's metadata (its store time and expiry) takes a HEAD.
        // Uses are the LastModified of the use marks, listed once.
        std::map<std::string, entry_info> entries;
        std::set<std::string> claimed;
        std::map<std::string, std::int64_t> used;
        const std::string values = function_prefix(function) + "v/";
        const std::string claims = function_prefix(function) + "c/";
        const std::string uses = function_prefix(function) + "u/";
        list(values, "list entries", [&](const listed_object& o) {
            entry_info& e = entries[o.key.substr(values.size())];
            e.key = o.key.substr(values.size());
            e.has_value = true;
            e.size = o.size;
        });
        list(claims, "list entries", [&](const listed_object& o) {
            const std::string key = o.key.substr(claims.size());
            entries[key].key = key;
            claimed.insert(key);
        });
        list(uses, "list entries", [&](const listed_object& o) { used[o.key.substr(uses.size())] = o.last_modified_us; });
        const std::int64_t now = http_.clock().now_us();  // one time for the listing: its ages rank the values
        for (auto& [key, e] : entries) {
            const key_ref ref{function, key};
            if (e.has_value) {
                const auto meta = value_metadata(value_key(ref), "list entries");
                e.has_value = meta && (!meta->expires_us || *meta->expires_us > now);
                if (e.has_value) {
                    e.age = std::chrono::microseconds(std::max<std::int64_t>(0, now - meta->stored_us));
                    const auto use = used.find(key);
                    const std::int64_t last = std::max(meta->stored_us, use == used.end() ? 0 : use->second);
                    e.since_last_use = std::chrono::microseconds(std::max<std::int64_t>(0, now - last));
                }
            }
            // Only a listed claim object needs reading.
            if (claimed.count(key) > 0) e.claim = claim_state_of(read_claim(ref).first);
            if ((e.has_value || e.claim != claim_state::none) && !visit(e)) return;
        }
    }

private:
    static s3_request get(std::string key) {
        s3_request r;
        r.key = std::move(key);
        return r;
    }

    static s3_request put(std::string key, std::string_view body, std::vector<std::string> headers = {}) {
        s3_request r;
        r.method = "PUT";
        r.key = std::move(key);
        r.body = body;
        r.headers = std::move(headers);
        return r;
    }

    /// LastModified follows the store by up to about this much (RADOS Gateway's clock for it is coarse).
    static constexpr std::int64_t last_modified_margin_us = 2'000'000;

    struct value_meta {
        std::int64_t stored_us = 0;
        std::optional<std::int64_t> expires_us;
    };

    /// Calls `visit(name, values prefix)` for each function stored, until it returns false.
    void each_function(const char* doing, const std::function<bool(std::string, const std::string&)>& visit) {
        std::vector<std::string> functions;
        list_prefixes(root_prefix(), doing, [&](const std::string& prefix) {
            functions.push_back(prefix.substr(root_prefix().size(), prefix.size() - root_prefix().size() - 1));
        });
        for (const auto& encoded : functions) {
            std::string name;
            if (encoded.find('~') == std::string::npos) {
                auto decoded = uri_decode(encoded);
                if (!decoded) continue;  // not a function's prefix
                name = std::move(*decoded);
            } else {
                const auto stored = http_.send(get(root_prefix() + encoded + "/name"), doing);
                if (stored.status != 200) continue;  // being written, or not cachier's
                name = stored.body;
            }
            if (!visit(std::move(name), root_prefix() + encoded + "/v/")) return;
        }
    }

    /// The values under `values` (a function's "v/" prefix) as a function's listing counts them: one
    /// ListObjectsV2 per 1,000 values, ages by LastModified.
    function_info summarize(std::string name, const std::string& values, const char* doing) {
        function_info info;
        info.name = std::move(name);
        const std::int64_t now = http_.clock().now_us();
        list(values, doing, [&](const listed_object& o) {
            info.add(o.size, std::chrono::microseconds(std::max<std::int64_t>(0, now - o.last_modified_us)));
        });
        return info;
    }

    /// A value object's metadata (one HEAD); nothing when it is gone or has none.
    std::optional<value_meta> value_metadata(const std::string& key, const char* doing) {
        s3_request head = get(key);
        head.method = "HEAD";
        const auto found = http_.send(head, doing);
        if (found.status == 404) return std::nullopt;
        if (found.status != 200) fail(doing, found);
        const auto stored = meta_number(found, "stored");
        if (!stored) return std::nullopt;
        return value_meta{*stored, meta_number(found, "expires")};
    }

    [[noreturn]] void fail(const char* doing, const s3_response& r) const {
        const std::string code = r.error_code();
        throw backend_error(http_.settings().description() + " could not " + doing + ": HTTP " + std::to_string(r.status) +
                            (code.empty() ? "" : " " + code));
    }

    [[nodiscard]] std::string root_prefix() const {
        return http_.settings().prefix.empty() ? std::string() : http_.settings().prefix + "/";
    }

    /// Names are any bytes; object keys must be UTF-8, '/' separates their parts and they hold at
    /// most 1,024 bytes: a name is percent-encoded (all but A-Z a-z 0-9 . _ -), and a long one
    /// shortened to its first part, '~' and its SHA-256 (its whole name then kept in a "name" object).
    static std::string name_segment(std::string_view function) {
        static constexpr char hex[] = "0123456789ABCDEF";
        std::string encoded;
        for (const char ch : function) {
            const auto c = static_cast<unsigned char>(ch);
            if (std::isalnum(c) || c == '.' || c == '_' || c == '-') {
                encoded += ch;
            } else {
                encoded += '%';
                encoded += hex[c >> 4];
                encoded += hex[c & 0xF];
            }
        }
        if (encoded.size() <= max_segment) return encoded;
        std::size_t cut = kept_of_long_names;
        while (cut > 0 && encoded.rfind('%', cut - 1) + 3 > cut) --cut;  // never inside a %XX
        return encoded.substr(0, cut) + "~" + std::string(sha256_hex(function).view());
    }

    static constexpr std::size_t max_segment = 200;
    static constexpr std::size_t kept_of_long_names = 120;

    [[nodiscard]] std::string function_prefix(std::string_view function) const {
        return root_prefix() + name_segment(function) + "/";
    }

    /// Writes the "name" object of a shortened name, once per process and name.
    void remember_long_name(std::string_view function) {
        const std::string segment = name_segment(function);
        if (segment.find('~') == std::string::npos) return;
        {
            const std::lock_guard lock(names_mutex_);
            if (!named_.insert(segment).second) return;
        }
        const auto r = http_.send(put(root_prefix() + segment + "/name", function), "store a function's name");
        if (r.status != 200) {
            const std::lock_guard lock(names_mutex_);
            named_.erase(segment);
            fail("store a function's name", r);
        }
    }

    [[nodiscard]] std::string value_key(const key_ref& ref) const {
        return function_prefix(ref.function) + "v/" + std::string(ref.key);
    }
    [[nodiscard]] std::string claim_key(const key_ref& ref) const {
        return function_prefix(ref.function) + "c/" + std::string(ref.key);
    }
    [[nodiscard]] std::string use_key(const key_ref& ref) const {
        return function_prefix(ref.function) + "u/" + std::string(ref.key);
    }

    /// The function name of a listed prefix (written by function_prefix); nothing for a prefix
    /// that is not one (a foreign object in a shared bucket).
    static std::optional<std::string> uri_decode(std::string_view text) {
        std::string out;
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (text[i] != '%') {
                out += text[i];
                continue;
            }
            if (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
                !std::isxdigit(static_cast<unsigned char>(text[i + 2])))
                return std::nullopt;
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        }
        return out;
    }

    claim_state claim_state_of(const std::optional<claim_body>& held) const {
        if (!held) return claim_state::none;
        return held->lease_end_us > http_.clock().now_us() ? claim_state::live : claim_state::expired;
    }

    /// The claim object and its ETag; nothing when there is none.
    std::pair<std::optional<claim_body>, std::string> read_claim(const key_ref& ref) {
        const auto r = http_.send(get(claim_key(ref)), "read a claim");
        if (r.status == 404) return {std::nullopt, {}};
        if (r.status != 200) fail("read a claim", r);
        auto body = claim_body::parse(r.body);
        if (!body) body = claim_body{0, {}};  // unreadable: an expired claim anybody may take over
        return {body, r.etag};
    }

    void remove_object(const std::string& key, const char* doing) {
        s3_request r = get(key);
        r.method = "DELETE";
        const auto removed = http_.send(r, doing);
        if (removed.status != 204 && removed.status != 200 && removed.status != 404) fail(doing, removed);
    }

    /// ListObjectsV2 of `prefix`, page after page; calls `each` per object.
    template <class Each>
    void list(const std::string& prefix, const char* doing, Each&& each) {
        list_pages(prefix, false, doing, [&](const pugi::xml_node& result) {
            for (auto c = result.child("Contents"); c; c = c.next_sibling("Contents")) {
                listed_object o;
                o.key = c.child_value("Key");
                o.last_modified_us = parse_iso8601_us(c.child_value("LastModified")).value_or(0);
                o.size = std::strtoull(c.child_value("Size"), nullptr, 10);
                each(o);
            }
        });
    }

    /// The "directories" right under `prefix` (ListObjectsV2 with delimiter '/').
    template <class Each>
    void list_prefixes(const std::string& prefix, const char* doing, Each&& each) {
        list_pages(prefix, true, doing, [&](const pugi::xml_node& result) {
            for (auto p = result.child("CommonPrefixes"); p; p = p.next_sibling("CommonPrefixes"))
                each(std::string(p.child_value("Prefix")));
        });
    }

    template <class Page>
    void list_pages(const std::string& prefix, bool by_directory, const char* doing, Page&& page) {
        std::string token;
        for (;;) {
            // The query in canonical order: sorted by name, every value percent-encoded.
            std::string query;
            if (!token.empty()) query += "continuation-token=" + uri_encode(token, false) + "&";
            if (by_directory) query += "delimiter=%2F&";
            query += "list-type=2&max-keys=1000&prefix=" + uri_encode(prefix, false);
            s3_request r;
            r.query = std::move(query);
            const auto listed = http_.send(r, doing);
            if (listed.status != 200) fail(doing, listed);
            pugi::xml_document xml;
            if (!xml.load_buffer(listed.body.data(), listed.body.size()))
                throw backend_error(http_.settings().description() + " could not " + doing + ": a listing that is not XML");
            const auto result = xml.child("ListBucketResult");
            page(result);
            if (std::string_view(result.child_value("IsTruncated")) != "true") return;
            token = result.child_value("NextContinuationToken");
            if (token.empty()) return;
        }
    }

    void remove_all(const std::string& prefix, const char* doing) {
        std::vector<std::string> keys;
        list(prefix, doing, [&](const listed_object& o) { keys.push_back(o.key); });
        delete_objects(keys, doing);
    }

    /// DeleteObjects, 1,000 keys a request.
    void delete_objects(const std::vector<std::string>& keys, const char* doing) {
        for (std::size_t start = 0; start < keys.size(); start += 1000) {
            std::string body = "<Delete><Quiet>true</Quiet>";
            for (std::size_t i = start; i < std::min(keys.size(), start + 1000); ++i)
                body += "<Object><Key>" + xml_escaped(keys[i]) + "</Key></Object>";
            body += "</Delete>";
            s3_request r;
            r.method = "POST";
            r.query = "delete=";
            r.body = body;
            r.headers = {"Content-MD5: " + content_md5(body)};
            const auto deleted = http_.send(r, doing);
            if (deleted.status != 200) fail(doing, deleted);
            if (deleted.body.find("<Error>") != std::string::npos)
                throw backend_error(http_.settings().description() + " could not " + doing + ": some objects were not deleted");
        }
    }

    s3_http http_;
    std::mutex held_mutex_;
    std::unordered_map<std::string, std::int64_t> held_;  // claim key + token -> lease end (server us)
    std::mutex names_mutex_;
    std::set<std::string> named_;  // shortened names whose "name" object this process wrote
    on_fork_child fork_{[this] {
        renew_lock(held_mutex_);
        renew_lock(names_mutex_);
    }};
};

}  // namespace

std::shared_ptr<backend> make_s3_backend(const s3_settings& settings) { return std::make_shared<s3_store>(settings); }

}  // namespace cachier::detail::s3
