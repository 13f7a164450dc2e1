// One size syntax for the daemon and the tool (size.hpp).
#include "core/size.hpp"

#include <limits>

#include <fmt/format.h>

#include "core/ascii.hpp"

namespace iscsikit {
namespace {

// Index i names 1024^(i+1).
constexpr std::string_view kPowers = "KMGTPE";

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

// Which power of 1024 a suffix names: "" and "b" 0, "k"/"kb"/"kib" 1, ... "e..." 6; -1 for none.
int suffix_power(std::string_view suffix) {
    if (suffix.empty() || suffix == "b" || suffix == "B") return 0;
    const auto at = kPowers.find(upper(suffix.front()));
    if (at == std::string_view::npos) return -1;
    const std::string_view rest = suffix.substr(1);
    if (rest.empty() || rest == "b" || rest == "B" || rest == "ib" || rest == "iB") return static_cast<int>(at) + 1;
    return -1;
}

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    constexpr std::string_view kTooLarge = "too large (more than 64 bits)";
    std::size_t i = 0;
    std::uint64_t value = 0;
    for (; i < text.size() && is_digit(text[i]); ++i) {
        const auto digit = static_cast<std::uint64_t>(text[i] - '0');
        if (value > (kMax - digit) / 10) return fail(std::string(kTooLarge));
        value = value * 10 + digit;
    }
    if (i == 0) return fail("expected a number of bytes, optionally with a suffix k, m, g, t, p or e");
    const std::string_view suffix = text.substr(i);
    const int power = suffix_power(suffix);
    if (power < 0)
        return fail(fmt::format("unknown suffix '{}' (k, m, g, t, p or e, then optionally b or ib)", suffix));
    for (int p = 0; p < power; ++p) {
        if (value > kMax / 1024) return fail(std::string(kTooLarge));
        value *= 1024;
    }
    return value;
}

std::string format_exact_size(std::uint64_t bytes) {
    for (std::size_t i = kPowers.size(); i-- > 0;) {
        const unsigned shift = 10 * static_cast<unsigned>(i + 1);
        if (bytes != 0 && bytes % (std::uint64_t{1} << shift) == 0)
            return fmt::format("{}{}", bytes >> shift, kPowers[i]);
    }
    return std::to_string(bytes);
}

}  // namespace iscsikit
