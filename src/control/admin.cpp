#include "control/admin.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>
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
        for (std::size_t l = 0; l < t.luns.size(); ++l) luns.push_back({{"lun", l}, {"spec", t.luns[l].to_string()}});
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

Answer acl_add(AdminContext& context, const Json& params) {
    auto target = text(params, "target");
    auto initiator = text(params, "initiator");
    if (!target) return tl::unexpected(target.error());
    if (!initiator) return tl::unexpected(initiator.error());
    return change(context, *target, [&](target::TargetAccess& access) -> Result<void> {
        if (std::find(access.allow.begin(), access.allow.end(), *initiator) != access.allow.end())
            return fail(fmt::format("{} is already in the allow list of {}", *initiator, *target));
        if (*initiator != "*" && access.open())
            return fail(fmt::format("target {} serves anyone (allow = [\"*\"]): remove '*' first", *target));
        access.allow.push_back(*initiator);
        return {};
    });
}

Answer acl_rm(AdminContext& context, const Json& params) {
    auto target = text(params, "target");
    auto initiator = text(params, "initiator");
    if (!target) return tl::unexpected(target.error());
    if (!initiator) return tl::unexpected(initiator.error());
    return change(context, *target, [&](target::TargetAccess& access) -> Result<void> {
        auto it = std::find(access.allow.begin(), access.allow.end(), *initiator);
        if (it == access.allow.end())
            return fail(fmt::format("{} is not in the allow list of {}", *initiator, *target));
        access.allow.erase(it);
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
        auto entry = std::find_if(access.initiators.begin(), access.initiators.end(),
                                  [&](const target::InitiatorSpec& e) { return e.name == initiator; });
        if (entry == access.initiators.end()) {
            if (chap.empty()) return fail(fmt::format("{} has no entry on target {}", initiator, *target));
            access.initiators.push_back({initiator, {}, {}, {}});
            entry = access.initiators.end() - 1;
        }
        (mutual ? entry->mutual_chap : entry->chap) = chap;
        return {};
    });
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
    Method{"ls", ls},           Method{"session.ls", session_ls}, Method{"session.close", session_close},
    Method{"acl.add", acl_add}, Method{"acl.rm", acl_rm},         Method{"chap.set", chap_set},
    Method{"save", save},       Method{"reload", reload},
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
