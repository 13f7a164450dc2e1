// Live management of a running Server (docs/management.md): the running configuration, targets
// and LUNs added, removed and resized, access rules replaced while sessions go on, and SIGHUP's
// reload of what can change live.
#include <fmt/format.h>
#include <fmt/ranges.h>
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

// Who sees which LUNs under which numbers: the initiators' own maps.
auto lun_maps(const TargetAccess& access) {
    std::map<std::string, std::vector<LunMapping>> out;
    for (const auto& entry : access.initiators)
        if (!entry.luns.empty()) out[entry.name] = entry.luns;
    return out;
}

// The logical units a node serves now, by target LUN.
std::map<std::uint64_t, std::shared_ptr<scsi::LogicalUnit>> units_of(const TargetNode& node) {
    std::map<std::uint64_t, std::shared_ptr<scsi::LogicalUnit>> units;
    const auto table = node.luns();
    for (auto lun : table->device->luns()) units.emplace(lun, table->device->unit(lun));
    return units;
}

}  // namespace

Result<Server::Found> Server::find_locked(const std::string& iqn) {
    auto spec =
        std::find_if(config_.targets.begin(), config_.targets.end(), [&](const TargetSpec& t) { return t.iqn == iqn; });
    auto node = std::find_if(targets_.begin(), targets_.end(), [&](const auto& n) { return n->iqn == iqn; });
    if (spec == config_.targets.end() || node == targets_.end()) return fail(fmt::format("no target named '{}'", iqn));
    return Found{&*spec, *node};
}

Result<void> Server::change_access(const std::string& iqn, const std::function<Result<void>(TargetAccess&)>& change) {
    std::lock_guard lock(manage_mutex_);
    auto found = find_locked(iqn);
    if (!found) return fail(found.error().message);
    auto* spec = found->spec;
    const auto* node = &found->node;
    TargetSpec changed = *spec;
    if (auto ok = change(changed.access); !ok) return ok;
    if (auto problem = detail::access_problem(changed)) return fail(fmt::format("target {}: {}", iqn, *problem));
    const bool maps_changed = lun_maps(spec->access) != lun_maps(changed.access);
    spec->access = changed.access;
    (*node)->access = std::make_shared<const TargetAccess>(std::move(changed.access));
    if (maps_changed) {
        // New per-initiator views of the same logical units; whoever's inventory changed hears of it.
        (*node)->publish(make_table(**node, *spec, units_of(**node)));
        (*node)->luns()->device->unit_attention_all(0x3f, 0x0e);
    }
    spdlog::info("target {}: access rules changed (allow list: {} names{}, CHAP {}{})", iqn, spec->access.allow.size(),
                 spec->access.open() ? ", open" : "", spec->access.chap.empty() ? "off" : "on",
                 maps_changed ? ", LUN maps" : "");
    return {};
}

Result<void> Server::add_target(TargetSpec spec) {
    std::lock_guard lock(manage_mutex_);
    if (stopping_) return fail("the daemon is stopping");
    spec.number_luns();
    DaemonConfig candidate = config_;
    candidate.targets.push_back(spec);
    if (auto ok = validate(candidate); !ok) return ok;
    auto node = make_node(spec);
    if (!node) return fail(node.error().message);
    if (auto ok = listen_on(spec.portals); !ok) return ok;
    config_.targets = std::move(candidate.targets);
    targets_.push_back(std::move(*node));
    std::vector<std::string> portals;
    for (const auto& p : spec.portals) portals.push_back(p.to_string());
    spdlog::info("management: target {} added on {} with {} LUN(s)", spec.iqn, fmt::join(portals, ", "),
                 spec.luns.size());
    return {};
}

Result<void> Server::remove_target(const std::string& iqn) {
    std::shared_ptr<TargetNode> node;
    {
        std::lock_guard lock(manage_mutex_);
        auto it = std::find_if(targets_.begin(), targets_.end(), [&](const auto& n) { return n->iqn == iqn; });
        if (it == targets_.end()) return fail(fmt::format("no target named '{}'", iqn));
        node = *it;
        targets_.erase(it);
        std::erase_if(config_.targets, [&](const TargetSpec& t) { return t.iqn == iqn; });
    }
    // No new login finds it now; the sessions it has end (their running commands first).
    const auto closed = sessions_.close_target(iqn);
    const auto table = node->luns();
    for (auto lun : table->device->luns()) flush_unit(*node, lun, *table->device->find(lun));
    spdlog::info("management: target {} removed ({} session(s) closed)", iqn, closed);
    return {};
}

Result<std::uint64_t> Server::add_lun(const std::string& iqn, LunSpec lun) {
    std::lock_guard lock(manage_mutex_);
    auto found = find_locked(iqn);
    if (!found) return fail(found.error().message);
    auto* spec = found->spec;
    const auto* node = &found->node;
    if (lun.lun == LunSpec::kNextLun)  // the lowest number free, as targetcli picks
        for (lun.lun = 0; spec->find_lun(lun.lun);) ++lun.lun;
    if (spec->find_lun(lun.lun)) return fail(fmt::format("target {} already has LUN {}", iqn, lun.lun));
    DaemonConfig candidate = config_;
    auto& target = *std::find_if(candidate.targets.begin(), candidate.targets.end(),
                                 [&](const TargetSpec& t) { return t.iqn == iqn; });
    target.luns.insert(
        std::find_if(target.luns.begin(), target.luns.end(), [&](const LunSpec& l) { return l.lun > lun.lun; }), lun);
    if (auto ok = validate(candidate); !ok) return fail(ok.error().message);
    auto unit = make_unit(target, lun);
    if (!unit) return fail(unit.error().message);
    auto units = units_of(**node);
    units.emplace(lun.lun, std::move(*unit));
    // SPC-4 §6.33: a changed LUN inventory is REPORTED LUNS DATA HAS CHANGED for every I_T nexus,
    // established once REPORT LUNS already answers the new list.
    const auto before = (*node)->luns();
    (*node)->publish(make_table(**node, target, units));
    before->device->unit_attention_all(0x3f, 0x0e);
    config_.targets = std::move(candidate.targets);
    spdlog::info("management: target {} LUN {} added: {}", iqn, lun.lun, lun.to_string());
    return lun.lun;
}

Result<void> Server::remove_lun(const std::string& iqn, std::uint64_t number) {
    std::shared_ptr<scsi::LogicalUnit> unit;
    std::shared_ptr<TargetNode> owner;
    {
        std::lock_guard lock(manage_mutex_);
        auto found = find_locked(iqn);
        if (!found) return fail(found.error().message);
        auto* spec = found->spec;
        const auto* node = &found->node;
        if (!spec->find_lun(number)) return fail(fmt::format("target {} has no LUN {}", iqn, number));
        for (const auto& entry : spec->access.initiators)
            for (const auto& map : entry.luns)
                if (map.target_lun == number)
                    // Dropping the mapping would leave the initiator an empty map, which means every LUN.
                    return fail(
                        fmt::format("target {} LUN {} is in initiator {}'s LUN map (as its LUN {}): "
                                    "change the map first (acl map / acl unmap, or edit the file and reload)",
                                    iqn, number, entry.name, map.lun));
        auto units = units_of(**node);
        unit = units.at(number);
        units.erase(number);
        std::erase_if(spec->luns, [&](const LunSpec& l) { return l.lun == number; });
        const auto before = (*node)->luns();
        (*node)->publish(make_table(**node, *spec, units));
        before->device->unit_attention_all(0x3f, 0x0e);
        owner = *node;
    }
    // Commands already running on it finish on their snapshot; what they acknowledged is on
    // stable storage before this returns, and the store closes when the last snapshot goes.
    flush_unit(*owner, number, *unit);
    spdlog::info("management: target {} LUN {} removed", iqn, number);
    return {};
}

Result<void> Server::resize_lun(const std::string& iqn, std::uint64_t number, std::uint64_t size) {
    std::lock_guard lock(manage_mutex_);
    auto found = find_locked(iqn);
    if (!found) return fail(found.error().message);
    auto* spec = found->spec;
    const auto* node = &found->node;
    auto lun = std::find_if(spec->luns.begin(), spec->luns.end(), [&](const LunSpec& l) { return l.lun == number; });
    auto unit = (*node)->luns()->device->unit(number);
    if (lun == spec->luns.end() || !unit) return fail(fmt::format("target {} has no LUN {}", iqn, number));
    const std::uint64_t before = unit->store().size_bytes();
    if (auto ok = unit->store().resize(size); !ok)
        return fail(fmt::format("target {} LUN {}: {}", iqn, number, ok.error().message));
    if (lun->kind != LunSpec::Kind::blockdev) lun->size = size;  // what a restart creates (ram) or expects
    // SBC-3: READ CAPACITY answers the new size now; every I_T nexus hears CAPACITY DATA HAS
    // CHANGED (2Ah/09h; SPC-4 Annex D) on its next command.
    if (size != before) unit->unit_attention_all(0x2a, 0x09);
    spdlog::info("management: target {} LUN {} resized from {} to {} bytes", iqn, number, before, size);
    return {};
}

Result<void> Server::set_access_state(const std::string& iqn, std::uint64_t number, scsi::AccessState state) {
    std::lock_guard lock(manage_mutex_);
    auto found = find_locked(iqn);
    if (!found) return fail(found.error().message);
    auto unit = found->node->luns()->device->unit(number);
    if (!unit) return fail(fmt::format("target {} has no LUN {}", iqn, number));
    const scsi::AccessState before = unit->access_state();
    unit->set_access_state(state);
    spdlog::info("management: target {} LUN {} ALUA state {} (was {})", iqn, number, scsi::access_state_name(state),
                 scsi::access_state_name(before));
    return {};
}

// A LUN the file names with the same backing: a larger size in the file grows it live (RAM and
// file stores; a block device's size is its own); a smaller one never shrinks it (a resize not
// saved yet, usually); any other difference waits for a restart.
void Server::reload_size(const std::string& iqn, const LunSpec& running, const LunSpec& fresh, const Note& note,
                         Reload& report) {
    LunSpec same_size = running;
    same_size.size = fresh.size;
    if (same_size.to_string() != fresh.to_string())
        report.needs_restart.push_back(fmt::format("target {} LUN {}: its backing changed", iqn, fresh.lun));
    else if (fresh.size > running.size && fresh.kind != LunSpec::Kind::blockdev)
        note(fmt::format("target {} LUN {} grown to {} bytes", iqn, fresh.lun, fresh.size),
             resize_lun(iqn, fresh.lun, fresh.size));
    else if (fresh.size < running.size)
        report.needs_restart.push_back(
            fmt::format("target {} LUN {}: the file says {} bytes, it serves {} (a LUN never shrinks; save records "
                        "the size)",
                        iqn, fresh.lun, fresh.size, running.size));
}

Server::Reload Server::reload(const DaemonConfig& fresh) {
    Reload report;
    const Note note = [&](const std::string& what, Result<void> done) {
        if (done)
            report.applied.push_back(what);
        else
            report.needs_restart.push_back(fmt::format("{}: {}", what, done.error().message));
    };
    for (const auto& target : fresh.targets) {
        const DaemonConfig now = running_config();
        auto running = std::find_if(now.targets.begin(), now.targets.end(),
                                    [&](const TargetSpec& t) { return t.iqn == target.iqn; });
        if (running == now.targets.end()) {
            note(fmt::format("target {} added", target.iqn), add_target(target));
            continue;
        }
        if (running->alias != target.alias || running->portals != target.portals)
            report.needs_restart.push_back(fmt::format("target {}: portals or alias changed", target.iqn));
        // New LUNs first (a new map may name them), then the access rules, then the LUNs gone.
        for (const auto& lun : target.luns) {
            const auto* was = running->find_lun(lun.lun);
            if (!was)
                note(fmt::format("target {} LUN {} added", target.iqn, lun.lun),
                     add_lun(target.iqn, lun).map([](std::uint64_t) {}));
            else
                reload_size(target.iqn, *was, lun, note, report);
        }
        if (running->access != target.access)
            note(fmt::format("target {}: access rules", target.iqn),
                 change_access(target.iqn, [&](TargetAccess& access) -> Result<void> {
                     access = target.access;
                     return {};
                 }));
        for (const auto& lun : running->luns)
            if (!target.find_lun(lun.lun))
                note(fmt::format("target {} LUN {} removed", target.iqn, lun.lun), remove_lun(target.iqn, lun.lun));
    }
    for (const auto& target : running_config().targets)
        if (std::none_of(fresh.targets.begin(), fresh.targets.end(),
                         [&](const TargetSpec& t) { return t.iqn == target.iqn; }))
            note(fmt::format("target {} removed", target.iqn), remove_target(target.iqn));
    const DaemonConfig now = running_config();
    if (now.discovery_chap != fresh.discovery_chap || now.discovery_mutual_chap != fresh.discovery_mutual_chap ||
        now.chap_algorithms != fresh.chap_algorithms)
        report.needs_restart.push_back("discovery CHAP or chap_algorithms");
    return report;
}

}  // namespace iscsikit::target
