#include "cli_format.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

namespace cachier::cli {

std::string human_size(std::uint64_t bytes) {
    if (bytes < 1024) return std::to_string(bytes) + " B";
    static constexpr std::array<const char*, 5> units{"KiB", "MiB", "GiB", "TiB", "PiB"};
    double value = static_cast<double>(bytes) / 1024.0;
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < units.size()) {
        value /= 1024.0;
        ++unit;
    }
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << value << ' ' << units[unit];
    return out.str();
}

std::string human_age(std::chrono::nanoseconds age) {
    using namespace std::chrono;
    if (age < seconds(1)) return std::to_string(duration_cast<milliseconds>(age).count()) + "ms";
    const auto s = duration_cast<seconds>(age).count();
    const auto two = [](long long n) {
        std::array<char, 8> text{};
        std::snprintf(text.data(), text.size(), "%02lld", n);
        return std::string(text.data());
    };
    if (s < 60) return std::to_string(s) + "s";
    if (s < 3600) return std::to_string(s / 60) + "m" + two(s % 60) + "s";
    if (s < 86400) return std::to_string(s / 3600) + "h" + two(s % 3600 / 60) + "m";
    return std::to_string(s / 86400) + "d" + two(s % 86400 / 3600) + "h";
}

namespace {

/// Length of the printable UTF-8 character at the start of `s`, 0 for anything else.
std::size_t printable_character(std::string_view s) {
    const auto lead = static_cast<unsigned char>(s[0]);
    if (lead < 0x80) return lead >= 0x20 && lead < 0x7F ? 1 : 0;
    const std::size_t length = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 && lead < 0xE0 ? 2 : 0;
    if (length == 0 || s.size() < length) return 0;
    for (std::size_t i = 1; i < length; ++i)
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0;
    return length;
}

}  // namespace

std::string printable_name(std::string_view name) {
    std::string out;
    while (!name.empty()) {
        const std::size_t n = printable_character(name);
        if (n == 0) {
            std::array<char, 5> hex{};
            std::snprintf(hex.data(), hex.size(), "\\x%02X", static_cast<unsigned char>(name[0]));
            out += hex.data();
            name.remove_prefix(1);
            continue;
        }
        if (name[0] == '\\') out += '\\';
        out.append(name.substr(0, n));
        name.remove_prefix(n);
    }
    return out;
}

std::optional<std::chrono::nanoseconds> parse_age(std::string_view text) {
    using namespace std::chrono;
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 9) return std::nullopt;
    const long long n = std::stoll(std::string(text.substr(0, digits)));
    const std::string_view unit = text.substr(digits);
    if (unit == "ms") return milliseconds(n);
    if (unit == "s") return seconds(n);
    if (unit == "m") return minutes(n);
    if (unit == "h") return hours(n);
    if (unit == "d") return hours(24 * n);
    if (unit == "w") return hours(24 * 7 * n);
    return std::nullopt;
}

table::table(std::vector<std::string> header, std::vector<bool> numeric)
    : header_(std::move(header)), numeric_(std::move(numeric)) {
    numeric_.resize(header_.size(), false);
}

void table::add(std::vector<std::string> row) {
    row.resize(header_.size());
    rows_.push_back(std::move(row));
}

void table::print(std::ostream& out) const {
    // Widths in characters, not bytes: UTF-8 continuation bytes take no column.
    const auto width = [](const std::string& s) {
        return static_cast<std::size_t>(
            std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
    };
    std::vector<std::size_t> widths(header_.size());
    for (std::size_t c = 0; c < header_.size(); ++c) widths[c] = width(header_[c]);
    for (const auto& row : rows_)
        for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], width(row[c]));
    const auto line = [&](const std::vector<std::string>& row) {
        std::string text;
        for (std::size_t c = 0; c < row.size(); ++c) {
            const std::string pad(widths[c] - width(row[c]), ' ');
            if (c > 0) text += "  ";
            text += numeric_[c] ? pad + row[c] : (c + 1 == row.size() ? row[c] : row[c] + pad);
        }
        out << text << '\n';
    };
    line(header_);
    for (const auto& row : rows_) line(row);
}

progress::progress(std::string label) : label_(std::move(label)), terminal_(::isatty(STDERR_FILENO) == 1) {}

progress::~progress() {
    if (shown_) std::cerr << "\r\033[K" << std::flush;
}

void progress::step() {
    ++count_;
    if (!terminal_ || count_ % 1000 != 0) return;
    std::cerr << '\r' << label_ << ": " << count_ << std::flush;
    shown_ = true;
}

}  // namespace cachier::cli
