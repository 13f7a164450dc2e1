// Who may log in to a target and with which credentials (config.hpp's TargetAccess), the CHAP
// settings' own parsing and checks, and where secrets may come from (docs/security.md).
#include <algorithm>

#include <asio/ip/address.hpp>
#include <fmt/format.h>

#include "target/config.hpp"
#include "target/config_rules.hpp"

namespace iscsikit::target {

bool TargetAccess::open() const { return std::find(allow.begin(), allow.end(), "*") != allow.end(); }

bool TargetAccess::restricted() const { return !allow.empty() || !initiators.empty(); }

bool TargetAccess::allows(std::string_view initiator) const {
    if (!restricted() || open()) return true;
    if (std::find(allow.begin(), allow.end(), initiator) != allow.end()) return true;
    return std::any_of(initiators.begin(), initiators.end(),
                       [&](const InitiatorSpec& entry) { return entry.name == initiator; });
}

LoginPolicy TargetAccess::policy(std::string_view initiator) const {
    LoginPolicy out;
    out.allowed = allows(initiator);
    out.chap = chap.credentials();
    out.mutual_chap = mutual_chap.credentials();
    for (const auto& entry : initiators) {
        if (entry.name != initiator) continue;
        // The initiator's own credentials win over the target's (docs/security.md).
        if (!entry.chap.empty()) out.chap = entry.chap.credentials();
        if (!entry.mutual_chap.empty()) out.mutual_chap = entry.mutual_chap.credentials();
    }
    return out;
}

Result<ChapSpec> parse_chap_spec(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
        return fail("expected USER:SECRET (or USER:@FILE to read the secret from FILE)");
    ChapSpec chap;
    chap.user = text.substr(0, colon);
    std::string secret = text.substr(colon + 1);
    if (secret.front() == '@') {
        chap.secret_file = secret.substr(1);
        auto read = read_secret_file(chap.secret_file);
        if (!read) return fail(read.error().message);
        chap.secret = std::move(*read);
    } else {
        chap.secret = std::move(secret);
    }
    return chap;
}

bool is_loopback_host(const std::string& host) {
    if (host == "localhost") return true;
    std::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    return !ec && address.is_loopback();
}

bool has_inline_secret(const DaemonConfig& config) {
    auto inline_secret = [](const ChapSpec& chap) { return !chap.empty() && chap.secret_file.empty(); };
    if (inline_secret(config.discovery_chap) || inline_secret(config.discovery_mutual_chap)) return true;
    for (const auto& target : config.targets) {
        if (inline_secret(target.access.chap) || inline_secret(target.access.mutual_chap)) return true;
        for (const auto& entry : target.access.initiators)
            if (inline_secret(entry.chap) || inline_secret(entry.mutual_chap)) return true;
    }
    return false;
}

namespace detail {

std::optional<std::string> chap_problem(const ChapSpec& chap) {
    if (chap.empty()) return chap.secret.empty() ? std::nullopt : std::optional<std::string>("a secret with no user");
    if (chap.user.size() > 255) return "user name longer than 255 bytes";
    for (char c : chap.user)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "user name holds a control character";
    // RFC 7143 §9.2.1: secrets under 96 bits fall to an offline dictionary attack.
    if (chap.secret.size() < iscsi::kMinChapSecretLength)
        return fmt::format("secret of user '{}' is shorter than {} characters (RFC 7143 §9.2.1)", chap.user,
                           iscsi::kMinChapSecretLength);
    if (chap.secret.size() > 255) return fmt::format("secret of user '{}' is longer than 255 bytes", chap.user);
    return std::nullopt;
}

std::optional<std::string> chap_pair_problem(const ChapSpec& chap, const ChapSpec& mutual) {
    if (auto problem = chap_problem(chap)) return "chap: " + *problem;
    if (auto problem = chap_problem(mutual)) return "mutual_chap: " + *problem;
    if (!mutual.empty() && chap.empty())
        return std::string("mutual_chap needs chap: the target answers only an initiator that authenticated");
    // RFC 7143 §12.1.3: a secret used to authenticate initiators MUST NOT authenticate targets.
    if (!mutual.empty() && mutual.secret == chap.secret)
        return std::string(
            "mutual_chap has the same secret as chap; RFC 7143 §12.1.3 forbids one secret for both "
            "directions");
    return std::nullopt;
}

std::optional<std::string> access_problem(const TargetSpec& target) {
    const auto& access = target.access;
    for (const auto& name : access.allow) {
        if (name == "*") continue;
        if (auto ok = check_iscsi_name(name); !ok) return fmt::format("allow '{}': {}", name, ok.error().message);
    }
    if (access.open() && access.allow.size() > 1)
        return std::string("allow lists '*' and names: '*' alone serves anyone");
    if (auto problem = chap_pair_problem(access.chap, access.mutual_chap)) return problem;
    std::vector<std::string> names;
    for (const auto& entry : access.initiators) {
        if (auto ok = check_iscsi_name(entry.name); !ok)
            return fmt::format("initiator '{}': {}", entry.name, ok.error().message);
        if (std::find(names.begin(), names.end(), entry.name) != names.end())
            return fmt::format("initiator '{}' listed twice", entry.name);
        names.push_back(entry.name);
        std::vector<std::uint64_t> seen;
        for (const auto& map : entry.luns) {
            if (!target.find_lun(map.target_lun))
                return fmt::format("initiator '{}': LUN {} maps to target LUN {}, which does not exist", entry.name,
                                   map.lun, map.target_lun);
            if (map.lun >= kMaxLuns)
                return fmt::format("initiator '{}': LUN {} is above {}", entry.name, map.lun, kMaxLuns - 1);
            if (std::find(seen.begin(), seen.end(), map.lun) != seen.end())
                return fmt::format("initiator '{}': LUN {} mapped twice", entry.name, map.lun);
            seen.push_back(map.lun);
        }
        const ChapSpec& chap = entry.chap.empty() ? access.chap : entry.chap;
        const ChapSpec& mutual = entry.mutual_chap.empty() ? access.mutual_chap : entry.mutual_chap;
        if (auto problem = chap_pair_problem(chap, mutual))
            return fmt::format("initiator '{}': {}", entry.name, *problem);
    }
    // Secure by default: a portal other machines reach needs CHAP, an allow list, or the
    // explicit allow = ["*"].
    const bool guarded = !access.chap.empty() || access.restricted();
    for (const auto& portal : target.portals)
        if (!is_loopback_host(portal.host) && !guarded)
            return fmt::format(
                "portal {} is reachable from other machines and the target has neither CHAP nor an allow list, so "
                "anyone could read and write its LUNs: set chap (--chap USER:SECRET), list the initiators allowed "
                "(--allow IQN), or serve anyone explicitly with allow = [\"*\"] (--allow '*')",
                portal.to_string());
    return std::nullopt;
}

}  // namespace detail
}  // namespace iscsikit::target
