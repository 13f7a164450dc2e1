#include "initiator/format.hpp"

#include <array>
#include <cstdio>
#include <limits>

#include <fmt/format.h>

#include "core/size.hpp"

namespace iscsikit::initiator {

namespace {

constexpr std::array<const char*, 7> kUnits{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
    auto size = iscsikit::parse_size(text);
    if (!size)
        return fail(ErrorKind::invalid_argument, fmt::format("invalid size '{}': {}", text, size.error().message));
    return *size;
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
