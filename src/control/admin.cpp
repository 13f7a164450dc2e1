#include "control/admin.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include "scsi/lun.hpp"
#include <spdlog/spdlog.h>

namespace iscsikit::control {
namespace {

struct Failure {
    int code;
    std::string message;
};
using Answer = tl::expected<Json, Failure>;

tl::unexpected<Failure> invalid(std::string message) {
    return tl::unexpected(Failure{kInvalidParams, std::move(message)});
}
tl::unexpected<Failure> refused(std::string message) { return tl::unexpected(Failure{kRefused, std::move(message)}); }

// A required string parameter, or the error that names it.
tl::expected<std::string, Failure> text(const Json& params, const char* name) {
    if (!params.contains(name) || !params[name].is_string())
        return tl::unexpected(Failure{kInvalidParams, fmt::format("params.{}: a string is required", name)});
    return params[name].get<std::string>();
}

// A LUN number parameter (0 to the highest LUN).
tl::expected<std::uint64_t, Failure> lun_number(const Json& params, const char* name) {
    if (!params.contains(name) || !params[name].is_number_integer() || params[name].get<std::int64_t>() < 0 ||
        params[name].get<std::uint64_t>() > scsi::kMaxLun)
        return tl::unexpected(
            Failure{kInvalidParams, fmt::format("params.{}: a LUN number (0 to {}) is required", name, scsi::kMaxLun)});
    return params[name].get<std::uint64_t>();
}

Json chap_json(const target::ChapSpec& chap) {
    if (chap.empty()) return nullptr;
    // Never the secret: who, and where the secret lives.
    return Json{{"user", chap.user},
                {"secret_file", chap.secret_file.empty() ? Json(nullptr) : Json(chap.secret_file)}};
}

Answer ls(AdminContext& context, const Json&) {
    const auto config = context.server.running_config();
    Json targets = Json::array();
    for (const auto& t : config.targets) {
        Json portals = Json::array(), luns = Json::array(), initiators = Json::array();
        for (const auto& p : t.portals) portals.push_back(p.to_string());
        for (const auto& l : t.luns) luns.push_back({{"lun", l.lun}, {"spec", l.to_string()}});
        for (const auto& e : t.access.initiators) {
            Json maps = Json::array();
            for (const auto& m : e.luns)
                maps.push_back({{"lun", m.lun}, {"target_lun", m.target_lun}, {"readonly", m.read_only}});
            initiators.push_back({{"name", e.name},
                                  {"chap", chap_json(e.chap)},
                                  {"mutual_chap", chap_json(e.mutual_chap)},
                                  {"luns", maps}});
        }
        targets.push_back({{"iqn", t.iqn},
                           {"alias", t.alias},
                           {"portals", portals},
                           {"luns", luns},
                           {"allow", t.access.allow},
                           {"chap", chap_json(t.access.chap)},
                           {"mutual_chap", chap_json(t.access.mutual_chap)},
                           {"initiators", initiators}});
    }
    return Json{
        {"targets", targets},
        {"discovery",
         {{"chap", chap_json(config.discovery_chap)}, {"mutual_chap", chap_json(config.discovery_mutual_chap)}}}};
}

Answer session_ls(AdminContext& context, const Json&) {
    Json out = Json::array();
    for (const auto& s : context.server.sessions().list())
        out.push_back({{"tsih", s.tsih},
                       {"initiator", s.initiator},
                       {"isid", fmt::format("{:012x}", s.isid)},
                       {"target", s.target.empty() ? Json(nullptr) : Json(s.target)},
                       {"remote", s.remote},
                       {"portal", s.portal},
                       {"authentication", s.authentication},
                       {"header_digest", s.header_digest},
                       {"data_digest", s.data_digest},
                       {"max_recv_data_segment_length", s.max_recv_data_segment_length},
                       {"max_burst_length", s.max_burst_length},
                       {"first_burst_length", s.first_burst_length},
                       {"immediate_data", s.immediate_data},
                       {"initial_r2t", s.initial_r2t}});
    return Json{{"sessions", out}};
}

Answer session_close(AdminContext& context, const Json& params) {
    if (!params.contains("tsih") || !params["tsih"].is_number_unsigned() ||
        params["tsih"].get<std::uint64_t>() > 0xffff)
        return invalid("params.tsih: a session's TSIH (1 to 65535) is required");
    const auto tsih = params["tsih"].get<std::uint16_t>();
    if (!context.server.sessions().close(tsih)) return refused(fmt::format("no session with TSIH {}", tsih));
    spdlog::info("management: closing session TSIH {}", tsih);
    return Json{{"closed", tsih}};
}

Answer change(AdminContext& context, const std::string& target,
              const std::function<Result<void>(target::TargetAccess&)>& edit) {
    auto done = context.server.change_access(target, edit);
    if (!done) return refused(done.error().message);
    return ls(context, Json::object());
}

// The target and the initiator an acl.* method names.
struct AclNames {
    std::string target, initiator;
};
tl::expected<AclNames, Failure> acl_names(const Json& params) {
    auto target = text(params, "target");
    if (!target) return tl::unexpected(target.error());
    auto initiator = text(params, "initiator");
    if (!initiator) return tl::unexpected(initiator.error());
    return AclNames{std::move(*target), std::move(*initiator)};
}

Answer acl_add(AdminContext& context, const Json& params) {
    auto names = acl_names(params);
    if (!names) return tl::unexpected(names.error());
    const std::string& target = names->target;  // not a structured binding: lambdas capture these
    const std::string& initiator = names->initiator;
    return change(context, target, [&](target::TargetAccess& access) -> Result<void> {
        if (std::find(access.allow.begin(), access.allow.end(), initiator) != access.allow.end())
            return fail(fmt::format("{} is already in the allow list of {}", initiator, target));
        if (initiator != "*" && access.open())
            return fail(fmt::format("target {} serves anyone (allow = [\"*\"]): remove '*' first", target));
        access.allow.push_back(initiator);
        return {};
    });
}

auto find_entry(target::TargetAccess& access, const std::string& initiator) {
    return std::find_if(access.initiators.begin(), access.initiators.end(),
                        [&](const target::InitiatorSpec& e) { return e.name == initiator; });
}

// Shuts the initiator out: its name leaves the allow list and its entry (own credentials, LUN
// map) goes too, since an entry alone lets it log in.
Answer acl_rm(AdminContext& context, const Json& params) {
    auto names = acl_names(params);
    if (!names) return tl::unexpected(names.error());
    const std::string& target = names->target;  // not a structured binding: lambdas capture these
    const std::string& initiator = names->initiator;
    return change(context, target, [&](target::TargetAccess& access) -> Result<void> {
        auto it = std::find(access.allow.begin(), access.allow.end(), initiator);
        auto entry = find_entry(access, initiator);
        if (it == access.allow.end() && entry == access.initiators.end())
            return fail(fmt::format("{} is neither in the allow list of {} nor has an entry there", initiator, target));
        if (it != access.allow.end()) access.allow.erase(it);
        if (entry != access.initiators.end()) access.initiators.erase(entry);
        return {};
    });
}

// One LUN of an initiator's map (docs/configuration.md, [[target.initiator.lun]]); an initiator
// without an entry gets one, which lets it log in.
Answer acl_map(AdminContext& context, const Json& params) {
    auto names = acl_names(params);
    if (!names) return tl::unexpected(names.error());
    const std::string& target = names->target;  // not a structured binding: lambdas capture these
    const std::string& initiator = names->initiator;
    auto lun = lun_number(params, "lun");
    if (!lun) return tl::unexpected(lun.error());
    target::LunMapping mapping{*lun, *lun, false};
    if (params.contains("target_lun")) {
        auto target_lun = lun_number(params, "target_lun");
        if (!target_lun) return tl::unexpected(target_lun.error());
        mapping.target_lun = *target_lun;
    }
    if (params.contains("readonly")) {
        if (!params["readonly"].is_boolean()) return invalid("params.readonly: true or false");
        mapping.read_only = params["readonly"].get<bool>();
    }
    return change(context, target, [&](target::TargetAccess& access) -> Result<void> {
        auto entry = find_entry(access, initiator);
        if (entry == access.initiators.end()) {
            access.initiators.push_back({initiator, {}, {}, {}});
            entry = access.initiators.end() - 1;
        }
        for (const auto& m : entry->luns)
            if (m.lun == mapping.lun)
                return fail(fmt::format("LUN {} of {} is already mapped (to target LUN {}): unmap it first", m.lun,
                                        initiator, m.target_lun));
        entry->luns.push_back(mapping);
        return {};
    });
}

Answer acl_unmap(AdminContext& context, const Json& params) {
    auto names = acl_names(params);
    if (!names) return tl::unexpected(names.error());
    const std::string& target = names->target;  // not a structured binding: lambdas capture these
    const std::string& initiator = names->initiator;
    auto lun = lun_number(params, "lun");
    if (!lun) return tl::unexpected(lun.error());
    return change(context, target, [&](target::TargetAccess& access) -> Result<void> {
        auto entry = find_entry(access, initiator);
        if (entry == access.initiators.end())
            return fail(fmt::format("{} has no entry on target {}", initiator, target));
        auto it = std::find_if(entry->luns.begin(), entry->luns.end(),
                               [&](const target::LunMapping& m) { return m.lun == *lun; });
        if (it == entry->luns.end()) return fail(fmt::format("{} has no LUN {} in its map", initiator, *lun));
        // No map means every LUN of the target: removing the last mapping would widen, not narrow.
        if (entry->luns.size() == 1)
            return fail(
                fmt::format("LUN {} is the last of {}'s map, and without a map it would see every LUN of {}: "
                            "map another first, or shut it out with acl rm",
                            *lun, initiator, target));
        entry->luns.erase(it);
        return {};
    });
}

Answer chap_set(AdminContext& context, const Json& params) {
    auto target = text(params, "target");
    if (!target) return tl::unexpected(target.error());
    target::ChapSpec chap;
    if (params.contains("user") && !params["user"].is_null()) {
        auto user = text(params, "user");
        auto secret = text(params, "secret");
        if (!user) return tl::unexpected(user.error());
        if (!secret) return tl::unexpected(secret.error());
        chap.user = *user;
        chap.secret = *secret;
    }  // no user: CHAP off for what is named
    const bool mutual = params.value("mutual", false);
    const std::string initiator = params.value("initiator", std::string());
    return change(context, *target, [&](target::TargetAccess& access) -> Result<void> {
        if (initiator.empty()) {
            (mutual ? access.mutual_chap : access.chap) = chap;
            return {};
        }
        auto entry = find_entry(access, initiator);
        if (entry == access.initiators.end()) {
            if (chap.empty()) return fail(fmt::format("{} has no entry on target {}", initiator, *target));
            access.initiators.push_back({initiator, {}, {}, {}});
            entry = access.initiators.end() - 1;
        }
        (mutual ? entry->mutual_chap : entry->chap) = chap;
        return {};
    });
}

// A list of strings, or the error that names the parameter.
tl::expected<std::vector<std::string>, Failure> texts(const Json& params, const char* name) {
    std::vector<std::string> out;
    if (!params.contains(name)) return out;
    if (!params[name].is_array())
        return tl::unexpected(Failure{kInvalidParams, fmt::format("params.{}: a list of strings is required", name)});
    for (const auto& item : params[name]) {
        if (!item.is_string())
            return tl::unexpected(
                Failure{kInvalidParams, fmt::format("params.{}: a list of strings is required", name)});
        out.push_back(item.get<std::string>());
    }
    return out;
}

Answer target_add(AdminContext& context, const Json& params) {
    auto iqn = text(params, "iqn");
    if (!iqn) return tl::unexpected(iqn.error());
    auto portals = texts(params, "portals");
    auto allow = texts(params, "allow");
    if (!portals) return tl::unexpected(portals.error());
    if (!allow) return tl::unexpected(allow.error());
    if (portals->empty()) return invalid("params.portals: at least one portal (\"127.0.0.1:3260\") is required");
    target::TargetSpec spec;
    spec.iqn = *iqn;
    spec.alias = params.value("alias", std::string());
    for (const auto& text : *portals) {
        auto portal = target::parse_portal(text);
        if (!portal) return invalid(fmt::format("params.portals: {}", portal.error().message));
        spec.portals.push_back(*portal);
    }
    spec.access.allow = *allow;
    if (auto done = context.server.add_target(std::move(spec)); !done) return refused(done.error().message);
    return ls(context, Json::object());
}

Answer target_rm(AdminContext& context, const Json& params) {
    auto iqn = text(params, "iqn");
    if (!iqn) return tl::unexpected(iqn.error());
    if (auto done = context.server.remove_target(*iqn); !done) return refused(done.error().message);
    return Json{{"removed", *iqn}};
}

Answer lun_add(AdminContext& context, const Json& params) {
    auto target = text(params, "target");
    auto spec_text = text(params, "spec");
    if (!target) return tl::unexpected(target.error());
    if (!spec_text) return tl::unexpected(spec_text.error());
    auto spec = target::parse_lun_spec(*spec_text);
    if (!spec) return invalid(fmt::format("params.spec: {}", spec.error().message));
    if (params.contains("lun")) {
        auto number = lun_number(params, "lun");
        if (!number) return tl::unexpected(number.error());
        spec->lun = *number;
    }  // else the lowest number free
    auto added = context.server.add_lun(*target, *spec);
    if (!added) return refused(added.error().message);
    return Json{{"target", *target}, {"lun", *added}, {"spec", spec->to_string()}};
}

Answer lun_rm(AdminContext& context, const Json& params) {
    auto target = text(params, "target");
    if (!target) return tl::unexpected(target.error());
    auto number = lun_number(params, "lun");
    if (!number) return tl::unexpected(number.error());
    if (auto done = context.server.remove_lun(*target, *number); !done) return refused(done.error().message);
    return Json{{"target", *target}, {"removed", *number}};
}

Answer lun_resize(AdminContext& context, const Json& params) {
    auto target = text(params, "target");
    if (!target) return tl::unexpected(target.error());
    auto number = lun_number(params, "lun");
    if (!number) return tl::unexpected(number.error());
    std::uint64_t size = 0;
    if (params.contains("size") && params["size"].is_number_integer() && params["size"].get<std::int64_t>() > 0) {
        size = params["size"].get<std::uint64_t>();
    } else if (params.contains("size") && params["size"].is_string()) {
        auto parsed = target::parse_size(params["size"].get<std::string>());
        if (!parsed) return invalid(fmt::format("params.size: {}", parsed.error().message));
        size = *parsed;
    } else {
        return invalid("params.size: bytes, or a size like \"2G\", is required");
    }
    if (auto done = context.server.resize_lun(*target, *number, size); !done) return refused(done.error().message);
    return Json{{"target", *target}, {"lun", *number}, {"size", size}};
}

// Implicit ALUA: the asymmetric access state of the LUN's target port group (SPC-4 §5.15).
Answer lun_alua(AdminContext& context, const Json& params) {
    auto target = text(params, "target");
    if (!target) return tl::unexpected(target.error());
    auto number = lun_number(params, "lun");
    if (!number) return tl::unexpected(number.error());
    auto name = text(params, "state");
    if (!name) return tl::unexpected(name.error());
    const auto state = scsi::parse_access_state(*name);
    if (!state)
        return invalid(
            "params.state: one of \"active/optimized\", \"active/non-optimized\", \"standby\", \"unavailable\"");
    if (auto done = context.server.set_access_state(*target, *number, *state); !done)
        return refused(done.error().message);
    return Json{{"target", *target}, {"lun", *number}, {"state", *name}};
}

// Per LUN, what its commands did since the daemon started (the metrics' counters, summed).
Answer stats(AdminContext& context, const Json&) {
    Json targets = Json::array();
    for (const auto& node : context.server.targets()) {
        const auto table = node->luns();
        Json luns = Json::array();
        for (auto lun : table->device->luns()) {
            Json kinds = Json::object();
            if (const auto* counters = table->counters_of(lun)) {
                const auto stats = counters->stats();
                for (std::size_t k = 0; k < target::kCommandKinds; ++k) {
                    const auto& kind = stats.kinds[k];
                    kinds[target::command_kind_name(static_cast<target::CommandKind>(k))] = {
                        {"commands", kind.commands},
                        {"errors", kind.errors},
                        {"bytes", kind.bytes},
                        {"seconds", static_cast<double>(kind.duration_ns) / 1e9}};
                }
            }
            auto* unit = table->device->find(lun);
            luns.push_back({{"lun", lun},
                            {"size", unit->store().size_bytes()},
                            {"block_size", unit->block_size()},
                            {"commands", kinds}});
        }
        targets.push_back({{"iqn", node->iqn},
                           {"sessions", node->counters->sessions.open.load()},
                           {"logins", node->counters->sessions.logins.load()},
                           {"luns", luns}});
    }
    return Json{{"targets", targets}};
}

Answer save(AdminContext& context, const Json& params) {
    std::string path = params.value("path", context.config_path);
    if (path.empty()) return invalid("params.path: the daemon was started without --config, so say where to save");
    auto saved = target::save_config_file(context.server.running_config(), path);
    if (!saved) return refused(saved.error().message);
    spdlog::info("management: configuration saved to {}", path);
    return Json{{"saved", path}};
}

Answer reload(AdminContext& context, const Json&) {
    if (!context.reload) return refused("the daemon was started without --config: nothing to reload");
    auto done = context.reload();
    if (!done) return refused(done.error().message);
    return *done;
}

struct Method {
    std::string_view name;
    Answer (*run)(AdminContext&, const Json&);
};
// Rules as data: every verb of `iscsikit admin` is one row (docs/management.md).
constexpr std::array kMethods{
    Method{"ls", ls},
    Method{"stats", stats},
    Method{"target.add", target_add},
    Method{"target.rm", target_rm},
    Method{"lun.add", lun_add},
    Method{"lun.rm", lun_rm},
    Method{"lun.resize", lun_resize},
    Method{"lun.alua", lun_alua},
    Method{"session.ls", session_ls},
    Method{"session.close", session_close},
    Method{"acl.add", acl_add},
    Method{"acl.rm", acl_rm},
    Method{"acl.map", acl_map},
    Method{"acl.unmap", acl_unmap},
    Method{"chap.set", chap_set},
    Method{"save", save},
    Method{"reload", reload},
};

Json error_response(const Json& id, int code, const std::string& message) {
    return Json{{"jsonrpc", "2.0"}, {"error", {{"code", code}, {"message", message}}}, {"id", id}};
}

}  // namespace

Json handle_request(AdminContext& context, const Json& request) {
    const Json id = request.is_object() && request.contains("id") ? request["id"] : Json(nullptr);
    if (!request.is_object() || request.value("jsonrpc", "") != "2.0" || !request.contains("method") ||
        !request["method"].is_string())
        return error_response(id, kInvalidRequest, "not a JSON-RPC 2.0 request: jsonrpc \"2.0\" and a method needed");
    const Json params = request.contains("params") ? request["params"] : Json::object();
    if (!params.is_object()) return error_response(id, kInvalidParams, "params must be an object");
    const auto name = request["method"].get<std::string>();
    const auto* method =
        std::find_if(kMethods.begin(), kMethods.end(), [&](const Method& m) { return m.name == name; });
    if (method == kMethods.end()) {
        std::string known;
        for (const auto& m : kMethods) known += (known.empty() ? "" : ", ") + std::string(m.name);
        return error_response(id, kMethodNotFound, fmt::format("no method '{}' (known: {})", name, known));
    }
    Answer answer;
    try {
        answer = method->run(context, params);
    } catch (const nlohmann::json::exception& e) {
        // A parameter of the wrong type (params.value() throws): the request is refused as such.
        answer = invalid(fmt::format("a parameter has the wrong type ({})", e.what()));
    }
    if (!request.contains("id")) return nullptr;  // a notification: done, no answer
    if (!answer) {
        spdlog::info("management: {} refused: {}", name, answer.error().message);
        return error_response(id, answer.error().code, answer.error().message);
    }
    return Json{{"jsonrpc", "2.0"}, {"result", std::move(*answer)}, {"id", id}};
}

std::string handle_line(AdminContext& context, const std::string& line) {
    Json request = Json::parse(line, nullptr, false);
    if (request.is_discarded()) return error_response(nullptr, kParseError, "the line is not JSON").dump();
    Json response = handle_request(context, request);
    return response.is_null() ? std::string() : response.dump();
}

}  // namespace iscsikit::control
