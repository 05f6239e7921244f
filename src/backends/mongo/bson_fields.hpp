#pragma once
// Small owners of libbson documents and readers of one top-level field, for the MongoDB backend.

#include <cstdint>
#include <string>

#include <bson/bson.h>

namespace cachier::detail::mongo {

/// A bson_t owned here.
class document {
public:
    document() : doc_(bson_new()) {}
    explicit document(bson_t* adopted) : doc_(adopted) {}
    ~document() {
        if (doc_ != nullptr) bson_destroy(doc_);
    }
    document(const document&) = delete;
    document& operator=(const document&) = delete;
    [[nodiscard]] bson_t* get() const noexcept { return doc_; }

private:
    bson_t* doc_;
};

/// A reply that libmongoc always initializes, even on failure.
struct reply_doc {
    bson_t doc;
    reply_doc() { bson_init(&doc); }
    ~reply_doc() { bson_destroy(&doc); }
    reply_doc(const reply_doc&) = delete;
    reply_doc& operator=(const reply_doc&) = delete;
};

inline std::int64_t int_field(const bson_t* doc, const char* name, std::int64_t otherwise = 0) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, name)) return otherwise;
    return bson_iter_as_int64(&it);
}

/// True when the field exists and is not null.
inline bool has_field(const bson_t* doc, const char* name) {
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, name) && !BSON_ITER_HOLDS_NULL(&it);
}

inline std::string binary_field(const bson_t* doc, const char* name) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, name) || !BSON_ITER_HOLDS_BINARY(&it)) return {};
    bson_subtype_t subtype{};
    std::uint32_t length = 0;
    const std::uint8_t* data = nullptr;
    bson_iter_binary(&it, &subtype, &length, &data);
    return {reinterpret_cast<const char*>(data), length};
}

inline std::string text_field(const bson_t* doc, const char* name) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, name) || !BSON_ITER_HOLDS_UTF8(&it)) return {};
    std::uint32_t length = 0;
    const char* text = bson_iter_utf8(&it, &length);
    return {text, length};
}

/// An embedded document or array field, read in place; false when there is none.
inline bool nested_field(const bson_t* doc, const char* name, bson_t* out) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, name) || !(BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)))
        return false;
    std::uint32_t length = 0;
    const std::uint8_t* data = nullptr;
    if (BSON_ITER_HOLDS_DOCUMENT(&it)) bson_iter_document(&it, &length, &data);
    else bson_iter_array(&it, &length, &data);
    return bson_init_static(out, data, length);
}

}  // namespace cachier::detail::mongo
