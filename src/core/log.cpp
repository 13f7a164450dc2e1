#include "core/log.hpp"

#include <string>

namespace iscsikit {

bool setup_logging(std::string_view level) {
    auto parsed = spdlog::level::from_str(std::string(level));
    if (parsed == spdlog::level::off && level != "off") return false;
    spdlog::set_level(parsed);
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%t] %v");
    return true;
}

}  // namespace iscsikit
