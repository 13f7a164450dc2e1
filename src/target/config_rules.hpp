// What the daemon's two ways of being configured share: the service knobs with their bounds, the
// log levels, LUN kinds and the rules a LUN's fields must satisfy together. config.cpp (quick
// flags, validate) and config_file.cpp (the TOML loader) read the same data.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "scsi/lun.hpp"
#include "target/config.hpp"

namespace iscsikit::target::detail {

// Service knobs as data: the TOML loader and validate() read the same bounds.
struct Knob {
    std::string_view key;
    std::uint32_t DaemonConfig::*field;
    std::uint32_t min;
    std::uint32_t max;
};
inline constexpr std::array kKnobs{
    Knob{"reactors", &DaemonConfig::reactors, 0, 1024},
    Knob{"nop_interval", &DaemonConfig::nop_interval_seconds, 0, 86400},  // 0: no pings
    Knob{"nop_timeout", &DaemonConfig::nop_timeout_seconds, 1, 86400},
    Knob{"login_timeout", &DaemonConfig::login_timeout_seconds, 1, 86400},
    Knob{"max_connections", &DaemonConfig::max_connections, 1, 1'000'000},
    Knob{"max_queued_commands", &DaemonConfig::max_queued_commands, 1, 65536},
    Knob{"max_outstanding_r2t", &DaemonConfig::max_outstanding_r2t, 1, 65535},  // RFC 7143 §13.17
};
inline constexpr std::array<std::string_view, 7> kLogLevels{"trace", "debug",    "info", "warn",
                                                            "error", "critical", "off"};
inline constexpr std::size_t kMaxLuns = scsi::kMaxLun + 1;  // LUNs 0 to kMaxLun

inline std::string_view kind_name(LunSpec::Kind kind) {
    switch (kind) {
        case LunSpec::Kind::ram: return "ram";
        case LunSpec::Kind::file: return "file";
        case LunSpec::Kind::blockdev: return "blockdev";
    }
    return "?";
}

inline std::optional<LunSpec::Kind> parse_kind(std::string_view text) {
    for (auto kind : {LunSpec::Kind::ram, LunSpec::Kind::file, LunSpec::Kind::blockdev})
        if (kind_name(kind) == text) return kind;
    return std::nullopt;
}

inline std::string_view cache_name(LunSpec::Cache cache) {
    switch (cache) {
        case LunSpec::Cache::kernel: return "kernel";
        case LunSpec::Cache::none: return "none";
        case LunSpec::Cache::writethrough: return "writethrough";
        case LunSpec::Cache::writeback: return "writeback";
    }
    return "?";
}
inline constexpr std::string_view kCacheChoices = "expected kernel, none, writethrough or writeback";

inline std::optional<LunSpec::Cache> parse_cache(std::string_view text) {
    for (auto cache :
         {LunSpec::Cache::kernel, LunSpec::Cache::none, LunSpec::Cache::writethrough, LunSpec::Cache::writeback})
        if (cache_name(cache) == text) return cache;
    return std::nullopt;
}

// Access rules that do not hold (access.cpp): a CHAP setting, a user/mutual pair, a target's
// allow list, initiator entries and the secure-by-default rule. nullopt when all is well.
std::optional<std::string> chap_problem(const ChapSpec& chap);
std::optional<std::string> chap_pair_problem(const ChapSpec& chap, const ChapSpec& mutual);
std::optional<std::string> access_problem(const TargetSpec& target);

// A LUN's fields that do not fit together; `key` is the LUN key to blame in a file.
struct LunProblem {
    std::string_view key;
    std::string message;
};

inline std::optional<LunProblem> lun_problem(const LunSpec& lun) {
    if (lun.block_size != 512 && lun.block_size != 4096)
        return LunProblem{"block_size", fmt::format("block size {}: expected 512 or 4096", lun.block_size)};
    if (lun.kind != LunSpec::Kind::ram && lun.path.empty())
        return LunProblem{"path", fmt::format("a {} LUN needs a path", kind_name(lun.kind))};
    if (lun.kind == LunSpec::Kind::ram && lun.size == 0) return LunProblem{"size", "a ram LUN needs a size"};
    if (lun.kind == LunSpec::Kind::blockdev && lun.size != 0)
        return LunProblem{"size", "size is not used for a blockdev LUN (the device's own size is)"};
    if (lun.kind == LunSpec::Kind::ram && lun.cache != LunSpec::Cache::kernel)
        return LunProblem{"cache", "cache is for file and blockdev LUNs (a ram LUN is memory already)"};
    if (lun.cache_size != 0 && !lun.own_cache())
        return LunProblem{"cache_size", "cache_size is for cache=writethrough or cache=writeback"};
    if (lun.cache_size != 0 && lun.cache_size < LunSpec::kMinCacheSize)
        return LunProblem{"cache_size", fmt::format("cache_size {}: at least 1M", lun.cache_size)};
    if (lun.size % lun.block_size != 0)
        return LunProblem{"size",
                          fmt::format("size {} is not a multiple of the block size {}", lun.size, lun.block_size)};
    return std::nullopt;
}

}  // namespace iscsikit::target::detail
