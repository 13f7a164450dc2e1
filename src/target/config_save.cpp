// The running configuration written back as the TOML file the daemon reads (docs/management.md's
// `save`): every key the loader knows, defaults left out, written atomically (temporary file,
// fsync, rename, fsync of the directory) so that a crash leaves the old file or the new one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "target/config.hpp"
#include "target/config_rules.hpp"

namespace iscsikit::target {
using namespace detail;

namespace {

toml::table chap_table(const ChapSpec& chap) {
    toml::table t;
    t.insert("user", chap.user);
    if (chap.secret_file.empty())
        t.insert("secret", chap.secret);
    else
        t.insert("secret_file", chap.secret_file);
    t.is_inline(true);
    return t;
}

std::string algorithm_name(iscsi::ChapAlgorithm id) { return std::string(iscsi::find_chap_algorithm(id)->name); }

toml::table lun_table(const LunSpec& lun) {
    toml::table t;
    t.insert("backing", std::string(kind_name(lun.kind)));
    if (!lun.path.empty()) t.insert("path", lun.path);
    if (lun.size != 0) t.insert("size", static_cast<std::int64_t>(lun.size));
    if (lun.block_size != 512) t.insert("block_size", static_cast<std::int64_t>(lun.block_size));
    if (lun.read_only) t.insert("readonly", true);
    if (lun.thin) t.insert("thin", true);
    if (lun.removable) t.insert("removable", true);
    if (lun.cache != LunSpec::Cache::kernel) t.insert("cache", std::string(cache_name(lun.cache)));
    if (lun.cache_size != 0) t.insert("cache_size", static_cast<std::int64_t>(lun.cache_size));
    if (lun.sanitize_rate != 0) t.insert("sanitize_rate", static_cast<std::int64_t>(lun.sanitize_rate));
    return t;
}

toml::table target_table(const TargetSpec& target) {
    toml::table t;
    t.insert("iqn", target.iqn);
    if (!target.alias.empty()) t.insert("alias", target.alias);
    toml::array portals;
    for (const auto& p : target.portals) portals.push_back(p.to_string());
    t.insert("portals", std::move(portals));
    const auto& access = target.access;
    if (!access.allow.empty()) {
        toml::array allow;
        for (const auto& name : access.allow) allow.push_back(name);
        t.insert("allow", std::move(allow));
    }
    if (!access.chap.empty()) t.insert("chap", chap_table(access.chap));
    if (!access.mutual_chap.empty()) t.insert("mutual_chap", chap_table(access.mutual_chap));
    toml::array luns;
    for (std::size_t i = 0; i < target.luns.size(); ++i) {
        auto table = lun_table(target.luns[i]);
        // The number only where it is not the one after the previous LUN (a removed LUN's gap).
        const std::uint64_t implied = i == 0 ? 0 : target.luns[i - 1].lun + 1;
        if (target.luns[i].lun != implied) table.insert("lun", static_cast<std::int64_t>(target.luns[i].lun));
        luns.push_back(std::move(table));
    }
    if (!luns.empty()) t.insert("lun", std::move(luns));
    if (!access.initiators.empty()) {
        toml::array initiators;
        for (const auto& entry : access.initiators) {
            toml::table e;
            e.insert("name", entry.name);
            if (!entry.chap.empty()) e.insert("chap", chap_table(entry.chap));
            if (!entry.mutual_chap.empty()) e.insert("mutual_chap", chap_table(entry.mutual_chap));
            if (!entry.luns.empty()) {
                toml::array maps;
                for (const auto& m : entry.luns) {
                    toml::table mt;
                    mt.insert("lun", static_cast<std::int64_t>(m.lun));
                    mt.insert("target_lun", static_cast<std::int64_t>(m.target_lun));
                    if (m.read_only) mt.insert("readonly", true);
                    maps.push_back(std::move(mt));
                }
                e.insert("lun", std::move(maps));
            }
            initiators.push_back(std::move(e));
        }
        t.insert("initiator", std::move(initiators));
    }
    return t;
}

}  // namespace

std::string to_toml(const DaemonConfig& config) {
    const DaemonConfig defaults;
    toml::table root;
    if (config.log_level != defaults.log_level) root.insert("log_level", config.log_level);
    for (const auto& knob : kKnobs)
        if (config.*knob.field != defaults.*knob.field)
            root.insert(knob.key, static_cast<std::int64_t>(config.*knob.field));
    if (config.chap_algorithms != defaults.chap_algorithms) {
        toml::array names;
        for (auto id : config.chap_algorithms) names.push_back(algorithm_name(id));
        root.insert("chap_algorithms", std::move(names));
    }
    if (config.metrics) root.insert("metrics", config.metrics->to_string());
    if (!config.rpc_socket.empty()) root.insert("rpc_socket", config.rpc_socket);
    if (!config.rpc_group.empty()) root.insert("rpc_group", config.rpc_group);
    if (!config.discovery_chap.empty() || !config.discovery_mutual_chap.empty()) {
        toml::table discovery;
        if (!config.discovery_chap.empty()) discovery.insert("chap", chap_table(config.discovery_chap));
        if (!config.discovery_mutual_chap.empty())
            discovery.insert("mutual_chap", chap_table(config.discovery_mutual_chap));
        root.insert("discovery", std::move(discovery));
    }
    toml::array targets;
    for (const auto& target : config.targets) targets.push_back(target_table(target));
    if (!targets.empty()) root.insert("target", std::move(targets));
    std::ostringstream out;
    out << "# written by iscsikit-target (save): the running configuration\n"
        << toml::toml_formatter(root, toml::toml_formatter::default_flags & ~toml::format_flags::indentation) << "\n";
    return out.str();
}

Result<void> save_config_file(const DaemonConfig& config, const std::string& path) {
    const std::string text = to_toml(config);
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
    std::string temporary = path + ".XXXXXX";
    const int fd = ::mkstemp(temporary.data());
    if (fd < 0)
        return fail(fmt::format("{}: cannot create a temporary file beside it: {}", path, std::strerror(errno)));
    // Secrets inline: readable by the daemon's user only (docs/security.md).
    const mode_t mode = has_inline_secret(config) ? 0600 : 0644;
    auto abandon = [&](const char* what) {
        const int error = errno;
        ::close(fd);
        ::unlink(temporary.c_str());
        return fail(fmt::format("{}: {} failed: {}", path, what, std::strerror(error)));
    };
    if (::fchmod(fd, mode) != 0) return abandon("fchmod");
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return abandon("write");
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return abandon("fsync");
    if (::close(fd) != 0) {
        ::unlink(temporary.c_str());
        return fail(fmt::format("{}: close failed: {}", path, std::strerror(errno)));
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error = errno;
        ::unlink(temporary.c_str());
        return fail(fmt::format("{}: rename failed: {}", path, std::strerror(error)));
    }
    // The rename itself is durable once the directory is.
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
    return {};
}

}  // namespace iscsikit::target
