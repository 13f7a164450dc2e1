// A portal, HOST[:PORT], in the one syntax the daemon's configuration and the iscsikit tool (its
// --portal, discover, and the authority of iSCSI URLs) share; docs/configuration.md states it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace iscsikit::iscsi {

// RFC 7143 §13.8 (TargetAddress): the port is 3260 when none is given.
inline constexpr std::uint16_t kDefaultPort = 3260;

struct Portal {
    std::string host;  // an IPv4 dotted quad, an IPv6 address without brackets (zone allowed), or a host name
    std::uint16_t port = kDefaultPort;
    // "host:port", IPv6 in brackets: "[::1]:3260".
    std::string to_string() const;
    friend bool operator==(const Portal&, const Portal&) = default;
};

// "host", "host:port", "[v6]", "[v6]:port", or a bare "v6" (which has no port: every colon is the
// address's). v6 may carry a zone ("fe80::1%eth0"). A host that is all digits and dots must be an
// IPv4 address; any other is a host name by RFC 1123 §2.1, with '_' allowed too. The port is
// 1 to 65535. The error is the reason alone; the caller quotes the text.
Result<Portal> parse_portal(std::string_view text);

// Whether portal text that parse_portal accepts names its port ("host:port", "[v6]:port") rather
// than taking kDefaultPort ("host", "[v6]", a bare "v6"): for services that have no default port.
bool names_port(std::string_view text);

// Whether `host` is what a Portal holds: an IPv6 address (it has a colon), an IPv4 address or a
// host name, as parse_portal checks them.
Result<void> check_host(std::string_view host);

}  // namespace iscsikit::iscsi
