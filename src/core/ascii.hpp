// ASCII character classes and decimal numbers for the text parsers (sizes, portals, iSCSI names,
// URLs, configuration): locale-free and defined for every char, which std::isdigit is not.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace iscsikit {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_hex_digit(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
constexpr bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Decimal digits only (no sign, no spaces, leading zeros allowed); nullopt when empty, not
// digits, or above `max`.
constexpr std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (!is_digit(c)) return std::nullopt;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (max - digit) / 10) return std::nullopt;  // value * 10 + digit > max, without overflow
        value = value * 10 + digit;
    }
    return value;
}

}  // namespace iscsikit
