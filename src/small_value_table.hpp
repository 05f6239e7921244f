#pragma once
// A hash table of small entries (keys of at most 32 bytes, values of at most 16 bytes, held in
// place) whose readers take no lock and write nothing: a sequence count guards it (odd while a
// writer changes it), and a reader copies what it found and tries again if the count moved. Every
// word of a slot is an atomic read relaxed, so a reader racing a writer reads no torn word and
// discards what it read. Hits on different cores thus share no written cache line.
//
// Writers are serialized by the caller. Slot arrays replaced by a larger one stay allocated until
// the table goes (a reader may still be reading one); they add up to less than the current one.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

namespace cachier::detail {

/// One small entry: a value's bytes and the times and backend entry the tier keeps with it.
struct small_entry {
    alignas(16) std::array<std::byte, 16> bytes{};  // read in place as the result type
    std::int64_t stored_at = 0;
    std::int64_t kept_at = 0;
    std::uint64_t entry_hash = 0;
};

class small_value_table {
public:
    /// The longest key it holds.
    static constexpr std::size_t max_key_size = 32;

    small_value_table() = default;
    small_value_table(const small_value_table&) = delete;
    small_value_table& operator=(const small_value_table&) = delete;

    /// Copies the entry of `key` (at most max_key_size bytes, hash `hash`) into `out`; false when
    /// there is none. Takes no lock.
    bool find(std::string_view key, std::uint64_t hash, small_entry& out) const noexcept {
        if (key.size() > max_key_size) return false;
        const small_key wanted = key_of(key);
        for (unsigned attempt = 0;; ++attempt) {
            const std::uint64_t before = sequence_.load(std::memory_order_acquire);
            if ((before & 1U) != 0) {
                if (attempt > 64) std::this_thread::yield();  // a writer was descheduled
                continue;
            }
            const bool found = look_up(wanted, hash, out);
            if (sequence_.load(std::memory_order_relaxed) == before) return found;
        }
    }

    /// Stores `entry` for `key` (at most max_key_size bytes: a longer one is not stored). The caller
    /// serializes writers.
    void insert_or_assign(std::string_view key, std::uint64_t hash, const small_entry& entry) {
        if (key.size() > max_key_size) return;
        const small_key k = key_of(key);
        slots* table = current();
        if (table == nullptr || (size_ + 1) * 2 > table->size) table = grow();
        const write_section section(sequence_);
        const std::size_t mask = table->size - 1;
        std::size_t at = hash & mask;
        for (;; at = (at + 1) & mask) {
            const slot& s = table->at[at];
            if (s.meta.load(std::memory_order_acquire) == 0) {
                ++size_;
                break;
            }
            if (matches(s, k, hash)) break;
        }
        write(table->at[at], k, hash, entry);
    }

    /// Removes the entry of `key`; true when there was one. The caller serializes writers.
    bool erase(std::string_view key, std::uint64_t hash) noexcept {
        if (key.size() > max_key_size) return false;
        slots* table = current();
        if (table == nullptr) return false;
        const small_key k = key_of(key);
        const std::size_t mask = table->size - 1;
        for (std::size_t at = hash & mask;; at = (at + 1) & mask) {
            const slot& s = table->at[at];
            if (s.meta.load(std::memory_order_acquire) == 0) return false;
            if (matches(s, k, hash)) {
                const write_section section(sequence_);
                remove_at(*table, at);
                return true;
            }
        }
    }

    /// Removes some entry (the next one after the last removed this way): room for a new one.
    void erase_any() noexcept {
        slots* table = current();
        if (table == nullptr || size_ == 0) return;
        const std::size_t mask = table->size - 1;
        while (table->at[cursor_ & mask].meta.load(std::memory_order_acquire) == 0) cursor_ = (cursor_ + 1) & mask;
        const write_section section(sequence_);
        remove_at(*table, cursor_ & mask);
    }

    /// Removes every entry for which `doomed(entry)` holds. The caller serializes writers.
    template <class Predicate>
    void erase_if(Predicate doomed) {
        slots* table = current();
        if (table == nullptr) return;
        const write_section section(sequence_);
        for (std::size_t at = 0; at < table->size;) {
            const slot& s = table->at[at];
            if (s.meta.load(std::memory_order_acquire) != 0 && doomed(entry_of(s))) {
                remove_at(*table, at);  // may move a later entry here: look at this slot again
                continue;
            }
            ++at;
        }
    }

    /// Removes every entry. The caller serializes writers.
    void clear() noexcept {
        slots* table = current();
        if (table == nullptr) return;
        const write_section section(sequence_);
        for (std::size_t at = 0; at < table->size; ++at) table->at[at].meta.store(0, std::memory_order_release);
        size_ = 0;
    }

    /// How many entries it holds.
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

    /// In a forked child: a writer of the parent may have stopped midway; start empty if so.
    void renew() noexcept {
        const std::uint64_t count = sequence_.load(std::memory_order_acquire);
        if ((count & 1U) == 0) return;
        if (slots* table = current())
            for (std::size_t at = 0; at < table->size; ++at) table->at[at].meta.store(0, std::memory_order_release);
        size_ = 0;
        sequence_.store(count + 1, std::memory_order_release);
    }

private:
    static constexpr std::size_t key_word_count = max_key_size / 8;
    using value_words = std::array<std::uint64_t, 2>;
    /// A key as a slot holds it: zero-padded words, and its length (keys that differ only by
    /// trailing zero bytes differ there).
    struct small_key {
        std::array<std::uint64_t, key_word_count> words{};
        std::uint64_t meta = 0;  // 1 + the length
    };

    struct slot {
        std::atomic<std::uint64_t> meta{0};  // 0: empty; else 1 + the key's length
        std::atomic<std::uint64_t> hash{0};
        std::array<std::atomic<std::uint64_t>, key_word_count> key{};
        std::array<std::atomic<std::uint64_t>, 2> value{};
        std::atomic<std::int64_t> stored_at{0};
        std::atomic<std::int64_t> kept_at{0};
        std::atomic<std::uint64_t> entry_hash{0};
    };
    struct slots {
        explicit slots(std::size_t n) : size(n), at(std::make_unique<slot[]>(n)) {}
        std::size_t size;
        std::unique_ptr<slot[]> at;
    };

    /// Marks a change: odd while it lasts.
    class write_section {
    public:
        explicit write_section(std::atomic<std::uint64_t>& sequence) noexcept : sequence_(sequence) {
            sequence_.store(sequence_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        }
        ~write_section() { sequence_.store(sequence_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
        write_section(const write_section&) = delete;
        write_section& operator=(const write_section&) = delete;

    private:
        std::atomic<std::uint64_t>& sequence_;
    };

    static small_key key_of(std::string_view key) noexcept {
        small_key k;
        const std::size_t size = key.size() < max_key_size ? key.size() : max_key_size;
        if (size > 0) std::memcpy(k.words.data(), key.data(), size);
        k.meta = 1 + size;
        return k;
    }

    [[nodiscard]] slots* current() const noexcept { return table_.load(std::memory_order_acquire); }

    static bool matches(const slot& s, const small_key& k, std::uint64_t hash) noexcept {
        if (s.hash.load(std::memory_order_acquire) != hash || s.meta.load(std::memory_order_acquire) != k.meta)
            return false;
        for (std::size_t w = 0; w < key_word_count; ++w)
            if (s.key[w].load(std::memory_order_acquire) != k.words[w]) return false;
        return true;
    }

    bool look_up(const small_key& wanted, std::uint64_t hash, small_entry& out) const noexcept {
        const slots* table = current();
        if (table == nullptr) return false;
        const std::size_t mask = table->size - 1;
        // At most one pass over the array: a torn view (discarded afterwards) cannot loop forever.
        std::size_t at = hash & mask;
        for (std::size_t probes = 0; probes < table->size; ++probes, at = (at + 1) & mask) {
            const slot& s = table->at[at];
            if (s.meta.load(std::memory_order_acquire) == 0) return false;
            if (matches(s, wanted, hash)) {
                out = entry_of(s);
                return true;
            }
        }
        return false;
    }

    static small_entry entry_of(const slot& s) noexcept {
        small_entry e;
        const value_words value{s.value[0].load(std::memory_order_acquire), s.value[1].load(std::memory_order_acquire)};
        std::memcpy(e.bytes.data(), value.data(), e.bytes.size());
        e.stored_at = s.stored_at.load(std::memory_order_acquire);
        e.kept_at = s.kept_at.load(std::memory_order_acquire);
        e.entry_hash = s.entry_hash.load(std::memory_order_acquire);
        return e;
    }

    static void write(slot& s, const small_key& k, std::uint64_t hash, const small_entry& e) noexcept {
        value_words value{};
        std::memcpy(value.data(), e.bytes.data(), e.bytes.size());
        s.hash.store(hash, std::memory_order_release);
        for (std::size_t w = 0; w < key_word_count; ++w) s.key[w].store(k.words[w], std::memory_order_release);
        s.value[0].store(value[0], std::memory_order_release);
        s.value[1].store(value[1], std::memory_order_release);
        s.stored_at.store(e.stored_at, std::memory_order_release);
        s.kept_at.store(e.kept_at, std::memory_order_release);
        s.entry_hash.store(e.entry_hash, std::memory_order_release);
        s.meta.store(k.meta, std::memory_order_release);
    }

    static void copy_slot(slot& to, const slot& from) noexcept {
        to.hash.store(from.hash.load(std::memory_order_acquire), std::memory_order_release);
        for (std::size_t w = 0; w < key_word_count; ++w)
            to.key[w].store(from.key[w].load(std::memory_order_acquire), std::memory_order_release);
        for (std::size_t w = 0; w < 2; ++w)
            to.value[w].store(from.value[w].load(std::memory_order_acquire), std::memory_order_release);
        to.stored_at.store(from.stored_at.load(std::memory_order_acquire), std::memory_order_release);
        to.kept_at.store(from.kept_at.load(std::memory_order_acquire), std::memory_order_release);
        to.entry_hash.store(from.entry_hash.load(std::memory_order_acquire), std::memory_order_release);
        to.meta.store(from.meta.load(std::memory_order_acquire), std::memory_order_release);
    }

    // Empties slot `at` and moves back each following slot of its run that may sit there (its home
    // is not cyclically within (at, next]). Inside a write section.
    void remove_at(slots& table, std::size_t at) noexcept {
        const std::size_t mask = table.size - 1;
        for (std::size_t next = (at + 1) & mask; table.at[next].meta.load(std::memory_order_acquire) != 0;
             next = (next + 1) & mask) {
            const std::size_t home = table.at[next].hash.load(std::memory_order_acquire) & mask;
            const bool stays = at <= next ? (at < home && home <= next) : (at < home || home <= next);
            if (stays) continue;
            copy_slot(table.at[at], table.at[next]);
            at = next;
        }
        table.at[at].meta.store(0, std::memory_order_release);
        --size_;
    }

    slots* grow() {
        const slots* old = current();
        auto bigger = std::make_unique<slots>(old == nullptr ? 16 : old->size * 2);
        if (old != nullptr) {
            const std::size_t mask = bigger->size - 1;
            for (std::size_t i = 0; i < old->size; ++i) {
                const slot& s = old->at[i];
                if (s.meta.load(std::memory_order_acquire) == 0) continue;
                std::size_t at = s.hash.load(std::memory_order_acquire) & mask;
                while (bigger->at[at].meta.load(std::memory_order_acquire) != 0) at = (at + 1) & mask;
                copy_slot(bigger->at[at], s);
            }
        }
        cursor_ = 0;
        slots* made = bigger.get();
        arrays_.push_back(std::move(bigger));
        table_.store(made, std::memory_order_release);  // filled before it is published
        return made;
    }

    std::atomic<std::uint64_t> sequence_{0};
    std::atomic<slots*> table_{nullptr};
    std::vector<std::unique_ptr<slots>> arrays_;  // the current one last
    std::size_t size_ = 0;
    std::size_t cursor_ = 0;
};

}  // namespace cachier::detail
