// Sizes, rates and durations as people write and read them: "4k" and "1m" on the command line,
// "100.0 MiB", "215.3 MiB/s" and "1:05" in output. Binary units throughout (IEC 80000-13).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "initiator/error.hpp"

namespace iscsikit::initiator {

// A byte count in the syntax of core/size.hpp ("4k", "4KiB", "1m", "512"), which the daemon's
// configuration shares. invalid_argument, "invalid size 'x': why", when it is not one.
Result<std::uint64_t> parse_size(std::string_view text);

// "512 B", "4.0 KiB", "100.0 MiB", "1.5 GiB": one decimal, the largest unit not above the value.
std::string format_size(std::uint64_t bytes);
// format_size of a rate with "/s": "215.3 MiB/s".
std::string format_rate(double bytes_per_second);
// "0:07", "1:05", "12:00", "1:02:03" (hours only when there are any); "--:--" for negative time.
std::string format_duration(std::chrono::seconds duration);

}  // namespace iscsikit::initiator
