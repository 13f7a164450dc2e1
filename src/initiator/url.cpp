// iSCSI URLs in libiscsi's form (see url.hpp). Every failure is invalid_argument with one line that
// quotes the input, the password masked and control characters made visible.
#include "initiator/url.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <tl/expected.hpp>

#include "core/ascii.hpp"
#include "scsi/lun.hpp"

namespace iscsikit::initiator {
namespace {

constexpr std::string_view kScheme = "iscsi://";

bool has_scheme(std::string_view text) {
    if (text.size() < kScheme.size()) return false;
    return std::equal(kScheme.begin(), kScheme.end(), text.begin(),
                      [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
}

// The input as messages show it: the password replaced by "***", control characters by '?'.
std::string shown(std::string_view text) {
    std::string out(text);
    if (has_scheme(text)) {
        const auto at = out.rfind('@');
        const auto percent = out.find('%', kScheme.size());
        if (at != std::string::npos && percent != std::string::npos && percent < at)
            out.replace(percent + 1, at - percent - 1, "***");
    }
    for (char& c : out)
        if (std::iscntrl(static_cast<unsigned char>(c))) c = '?';
    return out;
}

// RFC 3722 names are letters, digits, '.', '-' and ':' (UTF-8 beyond ASCII); '_' is common too.
std::optional<char> bad_name_character(std::string_view name) {
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (!std::isalnum(u) && u < 0x80 && c != '.' && c != '-' && c != ':' && c != '_') return c;
    }
    return std::nullopt;
}

}  // namespace

Result<Portal> parse_portal(std::string_view text) {
    auto portal = iscsi::parse_portal(text);
    if (!portal)
        return fail(ErrorKind::invalid_argument,
                    fmt::format("invalid portal '{}': {}", shown(text), portal.error().message));
    return *portal;
}

std::string Url::to_string() const {
    std::string out(kScheme);
    if (!user.empty()) out += user + "@";
    out += portal.to_string() + "/" + target;
    if (lun) out += fmt::format("/{}", *lun);
    return out;
}

Result<Url> parse_url(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return fail(ErrorKind::invalid_argument, fmt::format("invalid iSCSI URL '{}': {}", shown(text), why));
    };
    if (!has_scheme(text)) return bad("expected it to start with 'iscsi://'");
    std::string_view rest = text.substr(kScheme.size());
    Url url;

    // [user[%password]@]: iSCSI names never hold '@', so the last one ends the credentials.
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        const std::string_view credentials = rest.substr(0, at);
        const auto percent = credentials.find('%');
        url.user = std::string(credentials.substr(0, percent));
        if (url.user.empty()) return bad("empty user name before '@'");
        if (percent != std::string_view::npos) {
            url.password = std::string(credentials.substr(percent + 1));
            if (url.password.empty()) return bad("empty password after '%'");
        }
        rest = rest.substr(at + 1);
    }

    const auto slash = rest.find('/');
    const std::string_view authority = rest.substr(0, slash);
    if (authority.empty()) return bad("missing host");
    auto portal = iscsi::parse_portal(authority);
    if (!portal) return bad(portal.error().message);
    url.portal = std::move(*portal);
    if (slash == std::string_view::npos) return url;  // a portal, for discovery

    const std::string_view path = rest.substr(slash + 1);
    if (path.empty()) return url;  // "iscsi://host/" is a portal too
    const auto lun_slash = path.find('/');
    url.target = std::string(path.substr(0, lun_slash));
    if (url.target.empty()) return bad("missing target name");
    if (auto c = bad_name_character(url.target))
        return bad(fmt::format("target name '{}' has a character not allowed in iSCSI names ('{}')", shown(url.target),
                               shown(std::string_view(&*c, 1))));
    if (lun_slash == std::string_view::npos) return url;

    const std::string_view lun_text = path.substr(lun_slash + 1);
    if (lun_text.empty()) return bad(fmt::format("missing LUN after '{}/'", url.target));
    if (const auto extra = lun_text.find('/'); extra != std::string_view::npos)
        return bad(fmt::format("unexpected '{}' after the LUN", shown(lun_text.substr(extra))));
    if (!std::all_of(lun_text.begin(), lun_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return bad(fmt::format("LUN '{}' is not a decimal number", shown(lun_text)));
    const auto lun = parse_decimal(lun_text, scsi::kMaxLun);
    if (!lun) return bad(fmt::format("LUN {} out of range (0 to {})", lun_text, scsi::kMaxLun));
    url.lun = *lun;
    return url;
}

}  // namespace iscsikit::initiator
