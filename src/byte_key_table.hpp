#pragma once
// A hash table keyed by byte strings whose 64-bit hash the caller computes once per lookup. Open
// addressing with linear probing over a power-of-two array of (hash, item pointer) slots: a lookup
// masks the hash (no division), compares hashes within the slot array and touches one item, the
// one it returns. Removal shifts the following slots back, so there are no tombstones.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cachier::detail {

template <class Value>
class byte_key_table {
public:
    byte_key_table() = default;
    byte_key_table(const byte_key_table&) = delete;
    byte_key_table& operator=(const byte_key_table&) = delete;
    ~byte_key_table() { clear(); }

    /// The value of `key` (whose hash is `hash`), or null.
    [[nodiscard]] Value* find(std::string_view key, std::uint64_t hash) const noexcept {
        if (slots_.empty()) return nullptr;
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t at = hash & mask;; at = (at + 1) & mask) {
            const slot& s = slots_[at];
            if (s.held == nullptr) return nullptr;
            if (s.hash == hash && s.held->key == key) return &s.held->value;
        }
    }

    /// Stores `value` for `key`, replacing the value it had; returns the value it replaced, if any
    /// (so that the caller may release it after its locks).
    Value insert_or_assign(std::string_view key, std::uint64_t hash, Value value) {
        if (Value* present = find(key, hash)) return std::exchange(*present, std::move(value));
        if ((size_ + 1) * 2 > slots_.size()) grow();
        place(new item{std::string(key), std::move(value)}, hash);
        ++size_;
        return Value{};
    }

    /// Removes the value of `key`; true when there was one.
    bool erase(std::string_view key, std::uint64_t hash) noexcept {
        if (slots_.empty()) return false;
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t at = hash & mask;; at = (at + 1) & mask) {
            const slot& s = slots_[at];
            if (s.held == nullptr) return false;
            if (s.hash == hash && s.held->key == key) {
                remove_at(at);
                return true;
            }
        }
    }

    /// Removes some value (the next one after the last removed this way): room for a new one.
    void erase_any() noexcept {
        if (size_ == 0) return;
        const std::size_t mask = slots_.size() - 1;
        while (slots_[cursor_].held == nullptr) cursor_ = (cursor_ + 1) & mask;
        remove_at(cursor_);
    }

    /// Removes every value for which `doomed(value)` holds.
    template <class Predicate>
    void erase_if(Predicate doomed) {
        std::vector<slot> kept(slots_.size());
        std::swap(kept, slots_);
        size_ = 0;
        for (const slot& s : kept) {
            if (s.held == nullptr) continue;
            if (doomed(std::as_const(s.held->value))) {
                delete s.held;
                continue;
            }
            place(s.held, s.hash);
            ++size_;
        }
    }

    /// Removes every value.
    void clear() noexcept {
        for (slot& s : slots_) {
            delete s.held;
            s.held = nullptr;
        }
        size_ = 0;
    }

    /// How many values it holds.
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    struct item {
        std::string key;
        Value value;
    };
    struct slot {
        std::uint64_t hash = 0;
        item* held = nullptr;  // owned; null: empty
    };

    void place(item* held, std::uint64_t hash) noexcept {
        const std::size_t mask = slots_.size() - 1;
        std::size_t at = hash & mask;
        while (slots_[at].held != nullptr) at = (at + 1) & mask;
        slots_[at] = slot{hash, held};
    }

    void grow() {
        std::vector<slot> old(slots_.empty() ? 16 : slots_.size() * 2);
        std::swap(old, slots_);
        cursor_ = 0;
        for (const slot& s : old)
            if (s.held != nullptr) place(s.held, s.hash);
    }

    // Deletes the item at `at` and moves back each following slot of the run that may sit there
    // (its home is not cyclically within (at, next]), so that every lookup still finds its item.
    void remove_at(std::size_t at) noexcept {
        delete slots_[at].held;
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t next = (at + 1) & mask; slots_[next].held != nullptr; next = (next + 1) & mask) {
            const std::size_t home = slots_[next].hash & mask;
            const bool stays = at <= next ? (at < home && home <= next) : (at < home || home <= next);
            if (stays) continue;
            slots_[at] = slots_[next];
            at = next;
        }
        slots_[at] = slot{};
        --size_;
    }

    std::vector<slot> slots_;  // empty, or a power of two long
    std::size_t size_ = 0;
    std::size_t cursor_ = 0;  // where erase_any looks first
};

}  // namespace cachier::detail
