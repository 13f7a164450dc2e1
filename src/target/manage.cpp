// Live management of a running Server (docs/management.md): the running configuration, access
// rules replaced while sessions go on, and SIGHUP's reload of what can change live.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "target/config_rules.hpp"
#include "target/server.hpp"

namespace iscsikit::target {

std::shared_ptr<const TargetAccess> Server::access_of(const TargetNode& node) const {
    std::lock_guard lock(manage_mutex_);
    return node.access;
}

DaemonConfig Server::running_config() const {
    std::lock_guard lock(manage_mutex_);
    return config_;
}

namespace {

bool same_chap(const ChapSpec& a, const ChapSpec& b) {
    return a.user == b.user && a.secret == b.secret && a.secret_file == b.secret_file;
}

bool same_maps(const TargetAccess& a, const TargetAccess& b) {
    // LUN maps are built into the per-initiator device views at start.
    auto maps = [](const TargetAccess& access) {
        std::map<std::string, std::vector<std::tuple<std::uint64_t, std::uint64_t, bool>>> out;
        for (const auto& entry : access.initiators) {
            auto& list = out[entry.name];
            for (const auto& m : entry.luns) list.emplace_back(m.lun, m.target_lun, m.read_only);
        }
        std::erase_if(out, [](const auto& item) { return item.second.empty(); });
        return out;
    };
    return maps(a) == maps(b);
}

bool same_access(const TargetAccess& a, const TargetAccess& b) {
    if (a.allow != b.allow || !same_chap(a.chap, b.chap) || !same_chap(a.mutual_chap, b.mutual_chap) ||
        a.initiators.size() != b.initiators.size() || !same_maps(a, b))
        return false;
    for (std::size_t i = 0; i < a.initiators.size(); ++i) {
        const auto &x = a.initiators[i], &y = b.initiators[i];
        if (x.name != y.name || !same_chap(x.chap, y.chap) || !same_chap(x.mutual_chap, y.mutual_chap)) return false;
    }
    return true;
}

// Everything of a target but its access rules, as text, to tell whether a reload changes it.
std::string shape(const TargetSpec& t) {
    std::string out = t.iqn + "|" + t.alias;
    for (const auto& p : t.portals) out += "|" + p.to_string();
    for (const auto& l : t.luns) out += "|" + l.to_string();
    return out;
}

}  // namespace

Result<void> Server::change_access(const std::string& iqn, const std::function<Result<void>(TargetAccess&)>& change) {
    std::lock_guard lock(manage_mutex_);
    auto spec =
        std::find_if(config_.targets.begin(), config_.targets.end(), [&](const TargetSpec& t) { return t.iqn == iqn; });
    auto node = std::find_if(targets_.begin(), targets_.end(), [&](const TargetNode& n) { return n.iqn == iqn; });
    if (spec == config_.targets.end() || node == targets_.end()) return fail(fmt::format("no target named '{}'", iqn));
    TargetSpec changed = *spec;
    if (auto ok = change(changed.access); !ok) return ok;
    if (auto problem = detail::access_problem(changed)) return fail(fmt::format("target {}: {}", iqn, *problem));
    if (!same_maps(spec->access, changed.access))
        return fail(fmt::format("target {}: LUN maps change with a restart, not live", iqn));
    spec->access = changed.access;
    node->access = std::make_shared<const TargetAccess>(std::move(changed.access));
    spdlog::info("target {}: access rules changed (allow list: {} names{}, CHAP {})", iqn, spec->access.allow.size(),
                 spec->access.open() ? ", open" : "", spec->access.chap.empty() ? "off" : "on");
    return {};
}

Server::Reload Server::reload(const DaemonConfig& fresh) {
    Reload report;
    std::vector<std::string> seen;
    for (const auto& target : fresh.targets) {
        seen.push_back(target.iqn);
        DaemonConfig now = running_config();
        auto running = std::find_if(now.targets.begin(), now.targets.end(),
                                    [&](const TargetSpec& t) { return t.iqn == target.iqn; });
        if (running == now.targets.end()) {
            report.needs_restart.push_back(fmt::format("target {} is new", target.iqn));
            continue;
        }
        if (shape(*running) != shape(target))
            report.needs_restart.push_back(fmt::format("target {}: portals, alias or LUNs changed", target.iqn));
        if (same_access(running->access, target.access)) continue;
        auto applied = change_access(target.iqn, [&](TargetAccess& access) -> Result<void> {
            access = target.access;
            return {};
        });
        if (applied)
            report.applied.push_back(fmt::format("target {}: access rules", target.iqn));
        else
            report.needs_restart.push_back(applied.error().message);
    }
    for (const auto& target : running_config().targets)
        if (std::find(seen.begin(), seen.end(), target.iqn) == seen.end())
            report.needs_restart.push_back(fmt::format("target {} is gone from the file", target.iqn));
    const DaemonConfig now = running_config();
    if (!same_chap(now.discovery_chap, fresh.discovery_chap) ||
        !same_chap(now.discovery_mutual_chap, fresh.discovery_mutual_chap) ||
        now.chap_algorithms != fresh.chap_algorithms)
        report.needs_restart.push_back("discovery CHAP or chap_algorithms");
    return report;
}

}  // namespace iscsikit::target
