#include "initiator/format.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <limits>

namespace iscsikit::initiator {

namespace {

constexpr std::array<const char*, 7> kUnits{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

tl::unexpected<Error> bad_size(std::string_view text, const char* why) {
    return fail(ErrorKind::invalid_argument, "invalid size '" + std::string(text) + "': " + why);
}

// Which power of 1024 a suffix names: "" 0, "k"/"kb"/"kib" 1, ... ; -1 when it names none.
int suffix_power(std::string_view suffix) {
    if (suffix.empty()) return 0;
    if (suffix == "b" || suffix == "B") return 0;
    static constexpr std::string_view kLetters = "kmgtpe";
    const auto letter = static_cast<char>(std::tolower(static_cast<unsigned char>(suffix[0])));
    const auto at = kLetters.find(letter);
    if (at == std::string_view::npos) return -1;
    const std::string_view rest = suffix.substr(1);
    if (rest.empty() || rest == "b" || rest == "B" || rest == "ib" || rest == "iB") return static_cast<int>(at) + 1;
    return -1;
}

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
    std::size_t i = 0;
    std::uint64_t value = 0;
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
        const auto digit = static_cast<std::uint64_t>(text[i] - '0');
        if (value > (kMax - digit) / 10) return bad_size(text, "too large");
        value = value * 10 + digit;
    }
    if (i == 0) return bad_size(text, "expected a number of bytes with an optional k, m or g suffix");
    const int power = suffix_power(text.substr(i));
    if (power < 0) return bad_size(text, "unknown suffix (use k, m, g or t)");
    for (int p = 0; p < power; ++p) {
        if (value > kMax / 1024) return bad_size(text, "too large");
        value *= 1024;
    }
    return value;
}

std::string format_size(std::uint64_t bytes) {
    if (bytes < 1024) return std::to_string(bytes) + " B";
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    // Move up while the value would print as 1024.0 or more in this unit.
    while (value >= 1024.0 - 0.05 && unit + 1 < kUnits.size()) {
        value /= 1024.0;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
    return text;
}

std::string format_rate(double bytes_per_second) {
    if (!(bytes_per_second > 0)) return "0 B/s";  // also NaN
    const double max = static_cast<double>(std::numeric_limits<std::uint64_t>::max());
    return format_size(static_cast<std::uint64_t>(bytes_per_second < max ? bytes_per_second : max)) + "/s";
}

std::string format_duration(std::chrono::seconds duration) {
    const long long total = duration.count();
    if (total < 0) return "--:--";
    const long long hours = total / 3600, minutes = total / 60 % 60, seconds = total % 60;
    char text[48];
    if (hours > 0)
        std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", hours, minutes, seconds);
    else
        std::snprintf(text, sizeof text, "%lld:%02lld", minutes, seconds);
    return text;
}

}  // namespace iscsikit::initiator
