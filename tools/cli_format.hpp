#pragma once
// How the cachier tool shows things to people: sizes, ages, function names of any bytes, aligned
// tables, and a progress line for long listings.

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace cachier::cli {

/// "512 B", "1.5 KiB", "20.0 MiB".
std::string human_size(std::uint64_t bytes);

/// "850ms", "42s", "3m05s", "2h13m", "3d04h".
std::string human_age(std::chrono::nanoseconds age);

/// A name as text for a terminal: printable UTF-8 kept, a backslash doubled, other bytes as \xNN.
std::string printable_name(std::string_view name);

/// "7d", "12h", "30m", "45s", "500ms" (also w for weeks); nothing when `text` is not one.
std::optional<std::chrono::nanoseconds> parse_age(std::string_view text);

/// Rows of cells printed in aligned columns; columns after the first are right-aligned when
/// `numeric` says so.
class table {
public:
    table(std::vector<std::string> header, std::vector<bool> numeric);
    void add(std::vector<std::string> row);
    void print(std::ostream& out) const;
    [[nodiscard]] bool empty() const noexcept { return rows_.empty(); }

private:
    std::vector<std::string> header_;
    std::vector<bool> numeric_;
    std::vector<std::vector<std::string>> rows_;
};

/// "listing entries: 12000" on stderr, rewritten in place every 1,000 items, only when stderr is a
/// terminal; erased when done.
class progress {
public:
    explicit progress(std::string label);
    ~progress();
    progress(const progress&) = delete;
    progress& operator=(const progress&) = delete;
    void step();

private:
    std::string label_;
    std::uint64_t count_ = 0;
    bool shown_ = false;
    bool terminal_;
};

}  // namespace cachier::cli
