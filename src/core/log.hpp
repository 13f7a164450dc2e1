// Process-wide logging through spdlog (the one allowed singleton, STYLE.md rule 7).
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace iscsikit {

// Sets the default logger's level from a name ("trace", "debug", "info", "warn", "error", "off")
// and a pattern that carries the thread. Returns false when the name is not a level.
bool setup_logging(std::string_view level);

}  // namespace iscsikit
