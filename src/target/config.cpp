// The daemon's configuration (config.hpp): quick command-line specs, the TOML file, and the checks
// that keep a wrong configuration from starting. docs/configuration.md describes the file.
#include "target/config.hpp"

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

#include "core/size.hpp"
#include "scsi/lun.hpp"

namespace iscsikit::target {
namespace {

// Service knobs as data: the TOML loader and validate() read the same bounds.
struct Knob {
    std::string_view key;
    std::uint32_t DaemonConfig::*field;
    std::uint32_t min;
    std::uint32_t max;
};
constexpr std::array kKnobs{
    Knob{"reactors", &DaemonConfig::reactors, 0, 1024},
    Knob{"nop_interval", &DaemonConfig::nop_interval_seconds, 0, 86400},  // 0: no pings
    Knob{"nop_timeout", &DaemonConfig::nop_timeout_seconds, 1, 86400},
    Knob{"login_timeout", &DaemonConfig::login_timeout_seconds, 1, 86400},
    Knob{"max_connections", &DaemonConfig::max_connections, 1, 1'000'000},
    Knob{"max_queued_commands", &DaemonConfig::max_queued_commands, 1, 65536},
    Knob{"max_outstanding_r2t", &DaemonConfig::max_outstanding_r2t, 1, 65535},  // RFC 7143 §13.17
};
constexpr std::array<std::string_view, 7> kLogLevels{"trace", "debug", "info", "warn", "error", "critical", "off"};
constexpr std::size_t kMaxLuns = scsi::kMaxLun + 1;  // LUNs 0 to kMaxLun

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_lower_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z'); }

template <class Int>
std::optional<Int> parse_number(std::string_view text) {
    Int value{};
    if (text.empty() || !std::all_of(text.begin(), text.end(), is_digit)) return std::nullopt;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::string_view kind_name(LunSpec::Kind kind) {
    switch (kind) {
        case LunSpec::Kind::ram: return "ram";
        case LunSpec::Kind::file: return "file";
        case LunSpec::Kind::blockdev: return "blockdev";
    }
    return "?";
}

std::optional<LunSpec::Kind> parse_kind(std::string_view text) {
    for (auto kind : {LunSpec::Kind::ram, LunSpec::Kind::file, LunSpec::Kind::blockdev})
        if (kind_name(kind) == text) return kind;
    return std::nullopt;
}

// A LUN's fields that do not fit together; `key` is the LUN key to blame in a file.
struct LunProblem {
    std::string_view key;
    std::string message;
};

std::optional<LunProblem> lun_problem(const LunSpec& lun) {
    if (lun.block_size != 512 && lun.block_size != 4096)
        return LunProblem{"block_size", fmt::format("block size {}: expected 512 or 4096", lun.block_size)};
    if (lun.kind != LunSpec::Kind::ram && lun.path.empty())
        return LunProblem{"path", fmt::format("a {} LUN needs a path", kind_name(lun.kind))};
    if (lun.kind == LunSpec::Kind::ram && lun.size == 0) return LunProblem{"size", "a ram LUN needs a size"};
    if (lun.kind == LunSpec::Kind::blockdev && lun.size != 0)
        return LunProblem{"size", "size is not used for a blockdev LUN (the device's own size is)"};
    if (lun.size % lun.block_size != 0)
        return LunProblem{"size",
                          fmt::format("size {} is not a multiple of the block size {}", lun.size, lun.block_size)};
    return std::nullopt;
}

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
    return out;
}

DaemonConfig default_config() {
    DaemonConfig config;
    LunSpec lun;
    lun.kind = LunSpec::Kind::ram;
    lun.size = std::uint64_t{1} << 30;
    config.targets.push_back(TargetSpec{kDefaultTargetIqn, "iscsikit", {PortalAddress{"127.0.0.1", 3260}}, {lun}});
    return config;
}

Result<PortalAddress> parse_portal(const std::string& text) {
    auto portal = iscsi::parse_portal(text);
    if (!portal) return fail(fmt::format("portal '{}': {}", text, portal.error().message));
    return *portal;
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
            auto bs = parse_number<std::uint32_t>(value);
            if (!bs || (*bs != 512 && *bs != 4096))
                return bad(fmt::format("block_size '{}': expected 512 or 4096", value));
            lun.block_size = *bs;
        } else if (name == "size") {
            if (lun.kind == LunSpec::Kind::ram) return bad("a ram LUN takes its size after the colon (ram:1G)");
            if (lun.kind == LunSpec::Kind::blockdev)
                return bad("size is not used for a blockdev LUN (the device's own size is)");
            auto size = parse_size(value);
            if (!size) return bad(size.error().message);
            lun.size = *size;
        } else {
            return bad(fmt::format("unknown option '{}' (readonly, block_size, thin, removable, size)", name));
        }
    }
    if (auto problem = lun_problem(lun)) return bad(problem->message);
    return lun;
}

Result<void> check_iscsi_name(const std::string& name) {
    auto bad = [&](const std::string& why) {
        return fail(fmt::format("'{}' is not a valid iSCSI name: {}", name, why));
    };
    if (name.empty()) return bad("empty");
    // RFC 3720 §3.2.6.1: at most 223 bytes.
    if (name.size() > 223) return bad("longer than 223 bytes (RFC 3720 §3.2.6.1)");
    auto prefix = name.substr(0, 4);
    auto hex_tail = [&](std::initializer_list<std::size_t> lengths) {
        auto tail = std::string_view(name).substr(4);
        return std::find(lengths.begin(), lengths.end(), tail.size()) != lengths.end() &&
               std::all_of(tail.begin(), tail.end(), is_hex);
    };
    // RFC 3720 §3.2.6.3.2: "eui." and 16 hex digits (an EUI-64).
    if (prefix == "eui.") return hex_tail({16}) ? Result<void>{} : bad("expected eui. and 16 hex digits");
    // RFC 3980 §2: "naa." and 16 or 32 hex digits.
    if (prefix == "naa.") return hex_tail({16, 32}) ? Result<void>{} : bad("expected naa. and 16 or 32 hex digits");
    if (prefix != "iqn.") {
        std::string lower = prefix;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower == "iqn." || lower == "eui." || lower == "naa.") return bad("the type prefix is lowercase");
        return bad("expected it to start with iqn., eui. or naa. (RFC 3720 §3.2.6.3)");
    }
    // RFC 3722 §6: names are case-folded, so a configured name must already be lowercase;
    // RFC 3720 §3.2.6.2: dash, dot, colon, a-z and 0-9.
    for (char c : name) {
        if (c >= 'A' && c <= 'Z') return bad("iSCSI names are lowercase (RFC 3722)");
        if (!is_lower_alnum(c) && c != '-' && c != '.' && c != ':')
            return bad(fmt::format("character '{}' is not allowed (a-z, 0-9, '-', '.', ':')", c));
    }
    // RFC 3720 §3.2.6.3.1: iqn.YYYY-MM.reversed.domain.name[:unique string]
    const std::string_view form = "expected iqn.YYYY-MM.reversed.domain[:name]";
    std::string_view rest = std::string_view(name).substr(4);
    if (rest.size() < 8 || !std::all_of(rest.begin(), rest.begin() + 4, is_digit) || rest[4] != '-' ||
        !is_digit(rest[5]) || !is_digit(rest[6]) || rest[7] != '.')
        return bad(std::string(form));
    int month = (rest[5] - '0') * 10 + (rest[6] - '0');
    if (month < 1 || month > 12) return bad(fmt::format("month {:02} in the date", month));
    rest.remove_prefix(8);
    auto colon = rest.find(':');
    std::string_view domain = rest.substr(0, colon);
    if (domain.empty()) return bad(std::string(form) + ": the naming authority's domain is missing");
    for (std::string_view labels = domain;;) {
        auto label = labels.substr(0, labels.find('.'));
        if (label.empty()) return bad(fmt::format("empty label in the domain '{}'", domain));
        if (label.size() == labels.size()) break;
        labels.remove_prefix(label.size() + 1);
    }
    if (colon != std::string_view::npos && colon + 1 == rest.size()) return bad("nothing after ':'");
    return {};
}

Result<void> validate(const DaemonConfig& config) {
    if (std::find(kLogLevels.begin(), kLogLevels.end(), config.log_level) == kLogLevels.end())
        return fail(fmt::format("log_level '{}': expected one of trace, debug, info, warn, error, critical, off",
                                config.log_level));
    for (const auto& knob : kKnobs) {
        auto value = config.*knob.field;
        if (value < knob.min || value > knob.max)
            return fail(fmt::format("{} {}: expected {} to {}", knob.key, value, knob.min, knob.max));
    }
    std::set<std::string> iqns, paths;
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
        if (target.luns.empty()) return fail(fmt::format("{}: no LUN", where));
        if (target.luns.size() > kMaxLuns) return fail(fmt::format("{}: more than {} LUNs", where, kMaxLuns));
        for (std::size_t l = 0; l < target.luns.size(); ++l) {
            if (auto problem = lun_problem(target.luns[l]))
                return fail(fmt::format("{}: LUN {}: {}", where, l, problem->message));
            // two LUNs on one file or device would each cache it and overwrite the other's data
            const auto& path = target.luns[l].path;
            if (!path.empty() && !paths.insert(path).second)
                return fail(fmt::format("{}: LUN {}: {} already backs another LUN", where, l, path));
        }
    }
    return {};
}

// ---- The TOML file (schema in docs/configuration.md) ----
namespace {

// Thrown inside the loader only, turned into a Result by load_config_file.
struct SchemaError {
    std::uint32_t line;
    std::string key;
    std::string message;
};

[[noreturn]] void reject(const toml::source_region& where, const std::string& key, std::string message) {
    throw SchemaError{where.begin.line, key, std::move(message)};
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// Unknown keys are errors, so a typo does not silently fall back to a default.
void check_keys(const toml::table& table, const std::string& prefix, std::initializer_list<std::string_view> known) {
    for (auto&& [key, node] : table) {
        if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
        std::string message = "unknown key";
        for (auto candidate : known)
            if (edit_distance(key.str(), candidate) <= 2) message += fmt::format(" (did you mean '{}'?)", candidate);
        reject(key.source(), prefix + std::string(key.str()), message);
    }
}

std::string read_string(const toml::node& node, const std::string& key) {
    if (auto s = node.as_string()) return s->get();
    reject(node.source(), key, "expected a string");
}

bool read_bool(const toml::node& node, const std::string& key) {
    if (auto b = node.as_boolean()) return b->get();
    reject(node.source(), key, "expected true or false");
}

std::int64_t read_integer(const toml::node& node, const std::string& key, std::int64_t min, std::int64_t max) {
    auto i = node.as_integer();
    if (!i || i->get() < min || i->get() > max)
        reject(node.source(), key, fmt::format("expected an integer from {} to {}", min, max));
    return i->get();
}

std::uint64_t read_size(const toml::node& node, const std::string& key) {
    if (auto i = node.as_integer()) {
        if (i->get() < 0) reject(node.source(), key, "expected a size: bytes, or a string like \"1G\"");
        return static_cast<std::uint64_t>(i->get());
    }
    if (auto s = node.as_string()) {
        auto size = parse_size(s->get());
        if (!size) reject(node.source(), key, size.error().message);
        return *size;
    }
    reject(node.source(), key, "expected a size: bytes, or a string like \"1G\"");
}

// The tables of an array of tables ([[name]]), or an error that says how to write one.
std::vector<const toml::table*> read_tables(const toml::node& node, const std::string& key) {
    std::vector<const toml::table*> tables;
    auto array = node.as_array();
    if (!array) {
        auto name = key.substr(key.rfind('.') + 1);
        reject(node.source(), key, fmt::format("expected an array of tables: write [[{}]]", name));
    }
    for (const auto& element : *array) {
        auto table = element.as_table();
        if (!table) reject(element.source(), key, "expected tables in the array");
        tables.push_back(table);
    }
    return tables;
}

LunSpec read_lun(const toml::table& table, const std::string& prefix) {
    check_keys(table, prefix, {"backing", "path", "size", "block_size", "readonly", "thin", "removable"});
    LunSpec lun;
    auto backing = table.get("backing");
    if (!backing) reject(table.source(), prefix + "backing", "missing: ram, file or blockdev");
    auto kind = parse_kind(read_string(*backing, prefix + "backing"));
    if (!kind) reject(backing->source(), prefix + "backing", "expected ram, file or blockdev");
    lun.kind = *kind;
    if (auto n = table.get("path")) lun.path = read_string(*n, prefix + "path");
    if (auto n = table.get("size")) lun.size = read_size(*n, prefix + "size");
    if (auto n = table.get("block_size"))
        lun.block_size = static_cast<std::uint32_t>(read_integer(*n, prefix + "block_size", 0, 1 << 20));
    if (auto n = table.get("readonly")) lun.read_only = read_bool(*n, prefix + "readonly");
    if (auto n = table.get("thin")) lun.thin = read_bool(*n, prefix + "thin");
    if (auto n = table.get("removable")) lun.removable = read_bool(*n, prefix + "removable");
    if (auto problem = lun_problem(lun)) {
        auto blamed = table.get(problem->key);
        reject(blamed ? blamed->source() : table.source(), prefix + std::string(problem->key), problem->message);
    }
    return lun;
}

TargetSpec read_target(const toml::table& table, const std::string& prefix) {
    check_keys(table, prefix, {"iqn", "alias", "portals", "lun"});
    TargetSpec target;
    auto iqn = table.get("iqn");
    if (!iqn) reject(table.source(), prefix + "iqn", "missing: every target needs an iSCSI name");
    target.iqn = read_string(*iqn, prefix + "iqn");
    if (auto ok = check_iscsi_name(target.iqn); !ok) reject(iqn->source(), prefix + "iqn", ok.error().message);
    if (auto n = table.get("alias")) {
        target.alias = read_string(*n, prefix + "alias");
        if (target.alias.size() > 255) reject(n->source(), prefix + "alias", "longer than 255 bytes");
    }

    auto portals = table.get("portals");
    if (!portals) reject(table.source(), prefix + "portals", "missing: a list like [\"127.0.0.1:3260\"]");
    auto portal_array = portals->as_array();
    if (!portal_array || portal_array->empty())
        reject(portals->source(), prefix + "portals", "expected a non-empty list like [\"127.0.0.1:3260\"]");
    for (std::size_t i = 0; i < portal_array->size(); ++i) {
        const auto& element = *portal_array->get(i);
        auto key = fmt::format("{}portals[{}]", prefix, i);
        auto portal = parse_portal(read_string(element, key));
        if (!portal) reject(element.source(), key, portal.error().message);
        for (const auto& earlier : target.portals)
            if (earlier.to_string() == portal->to_string()) reject(element.source(), key, "listed twice");
        target.portals.push_back(*portal);
    }

    auto luns = table.get("lun");
    if (!luns) reject(table.source(), prefix + "lun", "missing: a target needs at least one [[target.lun]]");
    auto lun_tables = read_tables(*luns, prefix + "lun");
    if (lun_tables.empty()) reject(luns->source(), prefix + "lun", "a target needs at least one [[target.lun]]");
    if (lun_tables.size() > kMaxLuns)
        reject(luns->source(), prefix + "lun", fmt::format("more than {} LUNs", kMaxLuns));
    for (std::size_t i = 0; i < lun_tables.size(); ++i)
        target.luns.push_back(read_lun(*lun_tables[i], fmt::format("{}lun[{}].", prefix, i)));
    return target;
}

DaemonConfig read_config(const toml::table& root) {
    check_keys(root, "", {"log_level", "reactors", "nop_interval", "nop_timeout", "login_timeout", "max_connections",
                          "max_queued_commands", "max_outstanding_r2t", "target"});
    DaemonConfig config;
    if (auto n = root.get("log_level")) {
        config.log_level = read_string(*n, "log_level");
        if (std::find(kLogLevels.begin(), kLogLevels.end(), config.log_level) == kLogLevels.end())
            reject(n->source(), "log_level", "expected one of trace, debug, info, warn, error, critical, off");
    }
    for (const auto& knob : kKnobs)
        if (auto n = root.get(knob.key))
            config.*knob.field =
                static_cast<std::uint32_t>(read_integer(*n, std::string(knob.key), knob.min, knob.max));
    if (auto n = root.get("target")) {
        auto tables = read_tables(*n, "target");
        for (std::size_t i = 0; i < tables.size(); ++i) {
            auto prefix = fmt::format("target[{}].", i);
            config.targets.push_back(read_target(*tables[i], prefix));
            for (std::size_t j = 0; j < i; ++j)
                if (config.targets[j].iqn == config.targets[i].iqn)
                    reject(tables[i]->get("iqn")->source(), prefix + "iqn",
                           fmt::format("target[{}] has the same IQN", j));
        }
    }
    return config;
}

}  // namespace

Result<DaemonConfig> load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    std::stringstream content;
    content << in.rdbuf();
    if (in.bad()) return fail(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));

    toml::table root;
    try {
        root = toml::parse(content.str(), path);
    } catch (const toml::parse_error& e) {
        return fail(fmt::format("{}:{}:{}: {}", path, e.source().begin.line, e.source().begin.column, e.description()));
    }
    try {
        DaemonConfig config = read_config(root);
        if (auto ok = validate(config); !ok) return fail(fmt::format("{}: {}", path, ok.error().message));
        return config;
    } catch (const SchemaError& e) {
        return fail(fmt::format("{}:{}: key '{}': {}", path, e.line, e.key, e.message));
    }
}

}  // namespace iscsikit::target
