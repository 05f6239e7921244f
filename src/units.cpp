#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

#include <cachier/units.hpp>

namespace cachier {
namespace {

std::uint64_t unit_multiplier(std::string unit, std::string_view text) {
    for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (unit.empty() || unit == "B") return 1;
    if (unit == "K" || unit == "KB" || unit == "KIB") return 1ULL << 10;
    if (unit == "M" || unit == "MB" || unit == "MIB") return 1ULL << 20;
    if (unit == "G" || unit == "GB" || unit == "GIB") return 1ULL << 30;
    if (unit == "T" || unit == "TB" || unit == "TIB") return 1ULL << 40;
    throw config_error("invalid byte size \"" + std::string(text) + "\": unknown unit \"" + unit +
                       "\" (use B, KB, MB, GB or TB)");
}

}  // namespace

byte_size::byte_size(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    const std::size_t number_start = pos;
    while (pos < text.size() && (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '.')) ++pos;
    const std::string number(text.substr(number_start, pos - number_start));
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    std::string unit(text.substr(pos));
    while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.back()))) unit.pop_back();

    double value = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || ec != std::errc() || end != number.data() + number.size())
        throw config_error("invalid byte size \"" + std::string(text) + "\": expected a number such as 10KB");
    const double bytes = value * static_cast<double>(unit_multiplier(unit, text));
    if (!(bytes < 1.8e19)) throw config_error("invalid byte size \"" + std::string(text) + "\": too large");
    bytes_ = static_cast<std::uint64_t>(std::llround(bytes));
}

}  // namespace cachier
