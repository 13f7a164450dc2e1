// Portals as text (portal.hpp): one parser for the daemon and the tool.
#include "iscsi/portal.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "core/ascii.hpp"

namespace iscsikit::iscsi {
namespace {

constexpr std::size_t kMaxName = 253;  // RFC 1123 §2.1 (with RFC 1035 §2.3.4's limits)
constexpr std::size_t kMaxLabel = 63;

// Letters, digits and '-' (RFC 1123); '_' too, which names in hosts files and DNS carry in practice.
bool is_name_char(char c) { return is_letter(c) || is_digit(c) || c == '-' || c == '_'; }

bool is_ipv6(std::string_view text) {
    // A zone ("fe80::1%eth0") names an interface; it may not be empty, and the address before it
    // must parse.
    const auto percent = text.find('%');
    if (percent != std::string_view::npos && percent + 1 == text.size()) return false;
    const std::string address(text.substr(0, percent));
    in6_addr parsed{};
    return ::inet_pton(AF_INET6, address.c_str(), &parsed) == 1;
}

Result<void> check_name(std::string_view host) {
    if (host.empty()) return fail("missing host");
    if (!std::all_of(host.begin(), host.end(), [](char c) { return is_name_char(c) || c == '.'; }))
        return fail(fmt::format("host '{}' has a character not allowed in a host name", host));
    if (std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; })) {
        const std::string copy(host);
        in_addr parsed{};
        if (::inet_pton(AF_INET, copy.c_str(), &parsed) != 1)
            return fail(fmt::format("'{}' is not an IPv4 address", host));
        return {};
    }
    if (host.size() > kMaxName) return fail(fmt::format("host name '{}' is longer than {} characters", host, kMaxName));
    // RFC 1123 §2.1: dot-separated labels, none empty, none starting or ending with '-'.
    for (std::string_view rest = host;;) {
        const std::string_view label = rest.substr(0, rest.find('.'));
        if (label.empty()) return fail(fmt::format("host name '{}' has an empty label", host));
        if (label.size() > kMaxLabel)
            return fail(fmt::format("host name '{}' has a label longer than {} characters", host, kMaxLabel));
        if (label.front() == '-' || label.back() == '-')
            return fail(fmt::format("host name '{}' has a label that starts or ends with '-'", host));
        if (label.size() == rest.size()) return {};
        rest.remove_prefix(label.size() + 1);
    }
}

}  // namespace

std::string Portal::to_string() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

Result<Portal> parse_portal(std::string_view text) {
    Portal portal;
    std::optional<std::string_view> port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return fail("missing ']' after the IPv6 address");
        portal.host = std::string(text.substr(1, close - 1));
        if (!is_ipv6(portal.host)) return fail(fmt::format("'{}' is not an IPv6 address", portal.host));
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty() && rest.front() != ':')
            return fail(fmt::format("unexpected '{}' after the IPv6 address", rest));
        if (!rest.empty()) port_text = rest.substr(1);
    } else if (std::count(text.begin(), text.end(), ':') > 1) {
        // A bare IPv6 address; a port needs the brackets.
        if (!is_ipv6(text)) return fail(fmt::format("'{}' is not an IPv6 address (use [address]:port)", text));
        portal.host = std::string(text);
    } else {
        const auto colon = text.find(':');
        portal.host = std::string(text.substr(0, colon));
        if (auto ok = check_name(portal.host); !ok) return tl::unexpected(std::move(ok.error()));
        if (colon != std::string_view::npos) port_text = text.substr(colon + 1);
    }
    if (port_text) {
        const auto port = parse_decimal(*port_text, 65535);
        if (!port || *port == 0) return fail(fmt::format("port '{}' is not a number from 1 to 65535", *port_text));
        portal.port = static_cast<std::uint16_t>(*port);
    }
    return portal;
}

bool names_port(std::string_view text) {
    // parse_portal's three shapes: brackets, a bare IPv6 address (no port), a host with one colon.
    if (!text.empty() && text.front() == '[') return text.find("]:") != std::string_view::npos;
    return std::count(text.begin(), text.end(), ':') == 1;
}

Result<void> check_host(std::string_view host) {
    if (host.find(':') == std::string_view::npos) return check_name(host);
    if (!is_ipv6(host)) return fail(fmt::format("'{}' is not an IPv6 address", host));
    return {};
}

}  // namespace iscsikit::iscsi
