// The daemon's configuration (config.hpp): the embedded default, quick command-line specs
// (--portal, --lun) and validate(), the checks that keep a wrong configuration from starting.
// The TOML file is read by config_file.cpp.
#include "target/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/ascii.hpp"
#include "core/size.hpp"
#include "scsi/lun.hpp"
#include "target/config_rules.hpp"

namespace iscsikit::target {
using namespace detail;
namespace {

Result<bool> parse_bool(std::string_view name, std::string_view value) {
    if (value == "true") return true;
    if (value == "false") return false;
    return fail(fmt::format("option '{}': expected true or false, not '{}'", name, value));
}

}  // namespace

std::string LunSpec::to_string() const {
    std::string out = fmt::format("{}:{}", kind_name(kind), kind == Kind::ram ? format_exact_size(size) : path);
    if (kind == Kind::file && size != 0) out += ",size=" + format_exact_size(size);
    if (block_size != 512) out += fmt::format(",block_size={}", block_size);
    if (read_only) out += ",readonly=true";
    if (thin) out += ",thin=true";
    if (removable) out += ",removable=true";
    if (cache != Cache::kernel) out += fmt::format(",cache={}", cache_name(cache));
    if (cache_size != 0) out += fmt::format(",cache_size={}", format_exact_size(cache_size));
    if (sanitize_rate != 0) out += fmt::format(",sanitize_rate={}", format_exact_size(sanitize_rate));
    return out;
}

const LunSpec* TargetSpec::find_lun(std::uint64_t number) const {
    auto it = std::find_if(luns.begin(), luns.end(), [&](const LunSpec& l) { return l.lun == number; });
    return it == luns.end() ? nullptr : &*it;
}

DaemonConfig default_config() {
    DaemonConfig config;
    LunSpec lun;
    lun.kind = LunSpec::Kind::ram;
    lun.size = std::uint64_t{1} << 30;
    config.targets.push_back(TargetSpec{kDefaultTargetIqn, "iscsikit", {PortalAddress{"127.0.0.1", 3260}}, {lun}, {}});
    return config;
}

Result<PortalAddress> parse_portal(const std::string& text) {
    auto portal = iscsi::parse_portal(text);
    if (!portal) return fail(fmt::format("portal '{}': {}", text, portal.error().message));
    return *portal;
}

Result<PortalAddress> parse_metrics_address(const std::string& text) {
    auto address = iscsi::parse_portal(text);
    if (!address) return fail(fmt::format("metrics address '{}': {}", text, address.error().message));
    // Without a port the iSCSI default (3260) would be taken: the target's own portal, or a port
    // no scraper expects. 9460 is the example the docs use (docs/management.md).
    if (!iscsi::names_port(text))
        return fail(fmt::format("metrics address '{}' needs a port, e.g. {}", text,
                                PortalAddress{address->host, 9460}.to_string()));
    return *address;
}

Result<std::uint64_t> parse_size(const std::string& text) {
    auto size = iscsikit::parse_size(text);
    if (!size) return fail(fmt::format("size '{}': {}", text, size.error().message));
    return *size;
}

Result<LunSpec> parse_lun_spec(const std::string& text) {
    auto bad = [&](const std::string& why) { return fail(fmt::format("LUN '{}': {}", text, why)); };
    auto colon = text.find(':');
    if (colon == std::string::npos) return bad("expected KIND:ARGUMENT, like ram:1G or file:/srv/lun0.img");
    auto kind = parse_kind(std::string_view(text).substr(0, colon));
    if (!kind) return bad(fmt::format("unknown backing '{}' (ram, file or blockdev)", text.substr(0, colon)));

    LunSpec lun;
    lun.kind = *kind;
    std::vector<std::string> fields;
    std::stringstream rest(text.substr(colon + 1));
    for (std::string field; std::getline(rest, field, ',');) fields.push_back(field);
    if (fields.empty() || fields.front().empty())
        return bad(lun.kind == LunSpec::Kind::ram ? "a ram LUN needs a size, like ram:1G" : "missing path");
    if (lun.kind == LunSpec::Kind::ram) {
        auto size = parse_size(fields.front());
        if (!size) return bad(size.error().message);
        lun.size = *size;
    } else {
        lun.path = fields.front();
    }

    std::set<std::string> seen;
    for (std::size_t i = 1; i < fields.size(); ++i) {
        const auto& field = fields[i];
        auto eq = field.find('=');
        std::string name = field.substr(0, eq);
        // A bare boolean option means true: "file:/x,readonly".
        std::string value = eq == std::string::npos ? "true" : field.substr(eq + 1);
        if (!seen.insert(name).second) return bad(fmt::format("option '{}' given twice", name));
        if (name == "readonly" || name == "thin" || name == "removable") {
            auto flag = parse_bool(name, value);
            if (!flag) return bad(flag.error().message);
            (name == "readonly" ? lun.read_only : name == "thin" ? lun.thin : lun.removable) = *flag;
        } else if (name == "block_size") {
            auto bs = parse_decimal(value, 4096);
            if (!bs || (*bs != 512 && *bs != 4096))
                return bad(fmt::format("block_size '{}': expected 512 or 4096", value));
            lun.block_size = static_cast<std::uint32_t>(*bs);
        } else if (name == "cache") {
            auto cache = parse_cache(value);
            if (!cache) return bad(fmt::format("cache '{}': {}", value, kCacheChoices));
            lun.cache = *cache;
        } else if (name == "cache_size") {
            auto size = parse_size(value);
            if (!size) return bad(size.error().message);
            lun.cache_size = *size;
        } else if (name == "sanitize_rate") {
            auto rate = parse_size(value);
            if (!rate) return bad(rate.error().message);
            lun.sanitize_rate = *rate;
        } else if (name == "size") {
            if (lun.kind == LunSpec::Kind::ram) return bad("a ram LUN takes its size after the colon (ram:1G)");
            if (lun.kind == LunSpec::Kind::blockdev)
                return bad("size is not used for a blockdev LUN (the device's own size is)");
            auto size = parse_size(value);
            if (!size) return bad(size.error().message);
            lun.size = *size;
        } else {
            return bad(fmt::format(
                "unknown option '{}' (readonly, block_size, thin, removable, size, cache, cache_size, sanitize_rate)",
                name));
        }
    }
    if (auto problem = lun_problem(lun)) return bad(problem->message);
    return lun;
}

void TargetSpec::number_luns() {
    for (std::size_t i = 0; i < luns.size(); ++i)
        if (luns[i].lun == LunSpec::kNextLun) luns[i].lun = i == 0 ? 0 : luns[i - 1].lun + 1;
}

Result<void> validate(const DaemonConfig& given) {
    DaemonConfig config = given;
    for (auto& target : config.targets) target.number_luns();
    if (std::find(kLogLevels.begin(), kLogLevels.end(), config.log_level) == kLogLevels.end())
        return fail(fmt::format("log_level '{}': expected one of trace, debug, info, warn, error, critical, off",
                                config.log_level));
    for (const auto& knob : kKnobs) {
        auto value = config.*knob.field;
        if (value < knob.min || value > knob.max)
            return fail(fmt::format("{} {}: expected {} to {}", knob.key, value, knob.min, knob.max));
    }
    if (auto problem = chap_pair_problem(config.discovery_chap, config.discovery_mutual_chap))
        return fail(fmt::format("discovery {}", *problem));
    if (config.chap_algorithms.empty()) return fail("chap_algorithms: empty; list at least one (SHA256, MD5, ...)");
    std::set<std::string> iqns, paths;
    std::uint64_t cache_total = 0;
    for (std::size_t t = 0; t < config.targets.size(); ++t) {
        const auto& target = config.targets[t];
        auto where = fmt::format("target {}", target.iqn.empty() ? fmt::format("#{}", t) : target.iqn);
        if (auto ok = check_iscsi_name(target.iqn); !ok) return fail(fmt::format("{}: {}", where, ok.error().message));
        if (!iqns.insert(target.iqn).second) return fail(fmt::format("{}: the IQN is used by two targets", where));
        // RFC 7143 §13.7: TargetAlias is at most 255 bytes.
        if (target.alias.size() > 255) return fail(fmt::format("{}: alias longer than 255 bytes", where));
        if (target.portals.empty()) return fail(fmt::format("{}: no portal", where));
        std::set<std::string> portals;
        for (const auto& portal : target.portals) {
            if (auto ok = iscsi::check_host(portal.host); !ok || portal.port == 0)
                return fail(fmt::format("{}: portal '{}' is not valid", where, portal.to_string()));
            if (!portals.insert(portal.to_string()).second)
                return fail(fmt::format("{}: portal {} listed twice", where, portal.to_string()));
        }
        if (auto problem = access_problem(target)) return fail(fmt::format("{}: {}", where, *problem));
        if (target.luns.size() > kMaxLuns) return fail(fmt::format("{}: more than {} LUNs", where, kMaxLuns));
        for (std::size_t l = 0; l < target.luns.size(); ++l) {
            const auto& lun = target.luns[l];
            if (lun.lun > scsi::kMaxLun)
                return fail(fmt::format("{}: LUN {}: above the highest LUN, {}", where, lun.lun, scsi::kMaxLun));
            if (l > 0 && lun.lun <= target.luns[l - 1].lun)
                return fail(fmt::format("{}: LUN {}: listed twice or out of order", where, lun.lun));
            if (auto problem = lun_problem(lun))
                return fail(fmt::format("{}: LUN {}: {}", where, lun.lun, problem->message));
            // two LUNs on one file or device would each cache it and overwrite the other's data
            if (!lun.path.empty() && !paths.insert(lun.path).second)
                return fail(fmt::format("{}: LUN {}: {} already backs another LUN", where, lun.lun, lun.path));
            cache_total += lun.cache_bytes();
        }
    }
    // The block caches are allocated at start and never grow: together at most half of memory.
    const auto memory =
        static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    if (cache_total > memory / 2)
        return fail(
            fmt::format("the LUNs' block caches take {} in all, more than half of this machine's memory ({}): "
                        "lower cache_size",
                        format_exact_size(cache_total), format_exact_size(memory)));
    return {};
}

}  // namespace iscsikit::target
