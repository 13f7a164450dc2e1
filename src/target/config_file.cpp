// The daemon's TOML configuration file (schema in docs/configuration.md): every key checked for
// type, range and spelling, errors reported as "PATH:LINE: key 'K': why", then validate().
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "target/config.hpp"
#include "target/config_rules.hpp"

namespace iscsikit::target {
using namespace detail;

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
    check_keys(table, prefix,
               {"lun", "backing", "path", "size", "block_size", "readonly", "thin", "removable", "cache", "cache_size",
                "sanitize_rate"});
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
    if (auto n = table.get("cache")) {
        auto cache = parse_cache(read_string(*n, prefix + "cache"));
        if (!cache) reject(n->source(), prefix + "cache", std::string(kCacheChoices));
        lun.cache = *cache;
    }
    if (auto n = table.get("cache_size")) lun.cache_size = read_size(*n, prefix + "cache_size");
    if (auto n = table.get("sanitize_rate")) lun.sanitize_rate = read_size(*n, prefix + "sanitize_rate");
    if (auto problem = lun_problem(lun)) {
        auto blamed = table.get(problem->key);
        reject(blamed ? blamed->source() : table.source(), prefix + std::string(problem->key), problem->message);
    }
    return lun;
}

// chap = { user = "...", secret = "..." } or { user = "...", secret_file = "/etc/iscsikit/x.secret" }
ChapSpec read_chap(const toml::node& node, const std::string& key) {
    auto table = node.as_table();
    if (!table) reject(node.source(), key, "expected { user = \"...\", secret = \"...\" } or secret_file = PATH");
    const std::string prefix = key + ".";
    check_keys(*table, prefix, {"user", "secret", "secret_file"});
    ChapSpec chap;
    auto user = table->get("user");
    if (!user) reject(node.source(), prefix + "user", "missing: the CHAP name (CHAP_N)");
    chap.user = read_string(*user, prefix + "user");
    if (chap.user.empty()) reject(user->source(), prefix + "user", "empty");
    auto secret = table->get("secret");
    auto file = table->get("secret_file");
    if (secret && file) reject(file->source(), prefix + "secret_file", "give secret or secret_file, not both");
    if (!secret && !file) reject(node.source(), prefix + "secret", "missing: give secret or secret_file");
    if (secret) chap.secret = read_string(*secret, prefix + "secret");
    if (file) {
        chap.secret_file = read_string(*file, prefix + "secret_file");
        auto read = read_secret_file(chap.secret_file);
        if (!read) reject(file->source(), prefix + "secret_file", read.error().message);
        chap.secret = std::move(*read);
    }
    if (auto problem = chap_problem(chap)) reject(node.source(), key, *problem);
    return chap;
}

std::vector<std::string> read_string_list(const toml::node& node, const std::string& key) {
    auto array = node.as_array();
    if (!array) reject(node.source(), key, "expected a list of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < array->size(); ++i)
        out.push_back(read_string(*array->get(i), fmt::format("{}[{}]", key, i)));
    return out;
}

InitiatorSpec read_initiator(const toml::table& table, const std::string& prefix) {
    check_keys(table, prefix, {"name", "chap", "mutual_chap", "lun"});
    InitiatorSpec entry;
    auto name = table.get("name");
    if (!name) reject(table.source(), prefix + "name", "missing: the initiator's iSCSI name");
    entry.name = read_string(*name, prefix + "name");
    if (auto ok = check_iscsi_name(entry.name); !ok) reject(name->source(), prefix + "name", ok.error().message);
    if (auto n = table.get("chap")) entry.chap = read_chap(*n, prefix + "chap");
    if (auto n = table.get("mutual_chap")) entry.mutual_chap = read_chap(*n, prefix + "mutual_chap");
    if (auto n = table.get("lun")) {
        auto tables = read_tables(*n, prefix + "lun");
        for (std::size_t i = 0; i < tables.size(); ++i) {
            const auto key = fmt::format("{}lun[{}].", prefix, i);
            check_keys(*tables[i], key, {"lun", "target_lun", "readonly"});
            LunMapping map;
            auto lun = tables[i]->get("lun");
            auto target_lun = tables[i]->get("target_lun");
            if (!lun) reject(tables[i]->source(), key + "lun", "missing: the LUN number this initiator sees");
            map.lun = static_cast<std::uint64_t>(read_integer(*lun, key + "lun", 0, kMaxLuns - 1));
            map.target_lun =
                target_lun ? static_cast<std::uint64_t>(read_integer(*target_lun, key + "target_lun", 0, kMaxLuns - 1))
                           : map.lun;
            if (auto ro = tables[i]->get("readonly")) map.read_only = read_bool(*ro, key + "readonly");
            entry.luns.push_back(map);
        }
    }
    return entry;
}

void read_access(const toml::table& table, const std::string& prefix, TargetAccess& access) {
    if (auto n = table.get("allow")) {
        access.allow = read_string_list(*n, prefix + "allow");
        for (std::size_t i = 0; i < access.allow.size(); ++i) {
            if (access.allow[i] == "*") continue;
            if (auto ok = check_iscsi_name(access.allow[i]); !ok)
                reject(n->source(), fmt::format("{}allow[{}]", prefix, i), ok.error().message);
        }
    }
    if (auto n = table.get("chap")) access.chap = read_chap(*n, prefix + "chap");
    if (auto n = table.get("mutual_chap")) access.mutual_chap = read_chap(*n, prefix + "mutual_chap");
    if (auto n = table.get("initiator")) {
        auto tables = read_tables(*n, prefix + "initiator");
        for (std::size_t i = 0; i < tables.size(); ++i)
            access.initiators.push_back(read_initiator(*tables[i], fmt::format("{}initiator[{}].", prefix, i)));
    }
}

TargetSpec read_target(const toml::table& table, const std::string& prefix) {
    check_keys(table, prefix, {"iqn", "alias", "portals", "lun", "allow", "chap", "mutual_chap", "initiator"});
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

    // No [[target.lun]] is a target that serves no LUN yet (live management adds them).
    if (auto luns = table.get("lun")) {
        auto lun_tables = read_tables(*luns, prefix + "lun");
        if (lun_tables.size() > kMaxLuns)
            reject(luns->source(), prefix + "lun", fmt::format("more than {} LUNs", kMaxLuns));
        for (std::size_t i = 0; i < lun_tables.size(); ++i) {
            const auto key = fmt::format("{}lun[{}].", prefix, i);
            auto lun = read_lun(*lun_tables[i], key);
            // `lun` is optional: the one after the previous LUN, starting at 0.
            lun.lun = target.luns.empty() ? 0 : target.luns.back().lun + 1;
            if (auto n = lun_tables[i]->get("lun")) {
                lun.lun = static_cast<std::uint64_t>(read_integer(*n, key + "lun", 0, scsi::kMaxLun));
                if (!target.luns.empty() && lun.lun <= target.luns.back().lun)
                    reject(n->source(), key + "lun", "LUNs are listed in ascending order, each once");
            }
            target.luns.push_back(std::move(lun));
        }
    }
    read_access(table, prefix, target.access);
    if (auto problem = access_problem(target)) reject(table.source(), prefix + "allow", *problem);
    return target;
}

DaemonConfig read_config(const toml::table& root) {
    check_keys(root, "",
               {"log_level", "reactors", "nop_interval", "nop_timeout", "login_timeout", "max_connections",
                "max_queued_commands", "max_outstanding_r2t", "chap_algorithms", "discovery", "rpc_socket", "rpc_group",
                "metrics", "target"});
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
    if (auto n = root.get("chap_algorithms")) {
        config.chap_algorithms.clear();
        auto names = read_string_list(*n, "chap_algorithms");
        if (names.empty()) reject(n->source(), "chap_algorithms", "empty; list at least one");
        for (const auto& name : names) {
            const auto* algorithm = iscsi::find_chap_algorithm(name);
            if (!algorithm)
                reject(n->source(), "chap_algorithms",
                       fmt::format("'{}': expected SHA3-256, SHA256, SHA1 or MD5", name));
            config.chap_algorithms.push_back(algorithm->id);
        }
    }
    if (auto n = root.get("rpc_socket")) config.rpc_socket = read_string(*n, "rpc_socket");
    if (auto n = root.get("rpc_group")) config.rpc_group = read_string(*n, "rpc_group");
    if (auto n = root.get("discovery")) {
        auto table = n->as_table();
        if (!table) reject(n->source(), "discovery", "expected a table: [discovery]");
        check_keys(*table, "discovery.", {"chap", "mutual_chap"});
        if (auto c = table->get("chap")) config.discovery_chap = read_chap(*c, "discovery.chap");
        if (auto c = table->get("mutual_chap")) config.discovery_mutual_chap = read_chap(*c, "discovery.mutual_chap");
        if (auto problem = chap_pair_problem(config.discovery_chap, config.discovery_mutual_chap))
            reject(n->source(), "discovery", *problem);
    }
    if (auto n = root.get("metrics")) {
        auto address = parse_metrics_address(read_string(*n, "metrics"));
        if (!address) reject(n->source(), "metrics", address.error().message);
        config.metrics = *address;
    }
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
        // Secrets inline make the file itself a secrets file (docs/security.md).
        if (has_inline_secret(config)) {
            struct stat st {};
            if (::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0)
                return fail(
                    fmt::format("{}: holds CHAP secrets and everyone may read it (mode {:04o}); run chmod "
                                "600 {} or move the secrets to secret_file",
                                path, st.st_mode & 07777, path));
        }
        if (auto ok = validate(config); !ok) return fail(fmt::format("{}: {}", path, ok.error().message));
        return config;
    } catch (const SchemaError& e) {
        return fail(fmt::format("{}:{}: key '{}': {}", path, e.line, e.key, e.message));
    }
}

}  // namespace iscsikit::target
