// iSCSI URLs in libiscsi's form (see url.hpp). Every failure is invalid_argument with one line that
// quotes the input, the password masked and control characters made visible.
#include "initiator/url.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <tl/expected.hpp>

#include "scsi/lun.hpp"

namespace iscsikit::initiator {
namespace {

constexpr std::string_view kScheme = "iscsi://";

using Why = tl::expected<Portal, std::string>;

bool has_scheme(std::string_view text) {
    if (text.size() < kScheme.size()) return false;
    return std::equal(kScheme.begin(), kScheme.end(), text.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
    });
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

// Decimal digits only (no sign, no spaces); nullopt when empty, not digits or above `max`.
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
        if (value > max) return std::nullopt;
    }
    return value;
}

bool is_ipv6(std::string_view text) {
    // A zone ("fe80::1%eth0") names an interface; the address before it must parse.
    const std::string address(text.substr(0, text.find('%')));
    if (address.size() < text.size() && address.size() + 1 == text.size()) return false;
    unsigned char buffer[16];
    return inet_pton(AF_INET6, address.c_str(), buffer) == 1;
}

std::optional<std::string> check_name(std::string_view host) {
    if (host.empty()) return "missing host";
    for (char c : host) {
        const auto u = static_cast<unsigned char>(c);
        if (!std::isalnum(u) && c != '.' && c != '-' && c != '_')
            return fmt::format("host '{}' has a character not allowed in a host name", host);
    }
    // All digits and dots: it must be a dotted-quad IPv4 address.
    const auto dotted = [](char c) { return c == '.' || std::isdigit(static_cast<unsigned char>(c)); };
    if (std::all_of(host.begin(), host.end(), dotted)) {
        const std::string copy(host);
        unsigned char buffer[4];
        if (inet_pton(AF_INET, copy.c_str(), buffer) != 1) return fmt::format("'{}' is not an IPv4 address", host);
    }
    return std::nullopt;
}

// The portal forms of parse_portal; the error is the reason alone, the caller adds the context.
Why split_portal(std::string_view text) {
    Portal portal;
    std::string_view port_text;
    bool has_port = false;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return tl::unexpected(std::string("missing ']' after the IPv6 address"));
        portal.host = std::string(text.substr(1, close - 1));
        if (!is_ipv6(portal.host)) return tl::unexpected(fmt::format("'{}' is not an IPv6 address", portal.host));
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty() && rest.front() != ':')
            return tl::unexpected(fmt::format("unexpected '{}' after the IPv6 address", rest));
        has_port = !rest.empty();
        if (has_port) port_text = rest.substr(1);
    } else if (std::count(text.begin(), text.end(), ':') > 1) {
        // A bare IPv6 address; a port needs the brackets.
        portal.host = std::string(text);
        if (!is_ipv6(portal.host))
            return tl::unexpected(fmt::format("'{}' is not an IPv6 address (use [address]:port)", text));
    } else {
        const auto colon = text.find(':');
        portal.host = std::string(text.substr(0, colon));
        if (auto why = check_name(portal.host)) return tl::unexpected(std::move(*why));
        has_port = colon != std::string_view::npos;
        if (has_port) port_text = text.substr(colon + 1);
    }
    if (has_port) {
        const auto port = parse_decimal(port_text, 65535);
        if (!port || *port == 0)
            return tl::unexpected(fmt::format("port '{}' is not a number from 1 to 65535", port_text));
        portal.port = static_cast<std::uint16_t>(*port);
    }
    return portal;
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

std::string Portal::to_string() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

Result<Portal> parse_portal(std::string_view text) {
    auto portal = split_portal(text);
    if (!portal)
        return fail(ErrorKind::invalid_argument, fmt::format("invalid portal '{}': {}", shown(text), portal.error()));
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
    auto portal = split_portal(authority);
    if (!portal) return bad(portal.error());
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
