// iSCSI URLs as libiscsi writes them:
//   iscsi://[user[%password]@]host[:port]/target-iqn/lun   (a LUN)
//   iscsi://[user[%password]@]host[:port]/target-iqn       (a target; tools that need a LUN use 0)
//   iscsi://[user[%password]@]host[:port][/]               (a portal, for discovery)
// IPv6 addresses go in brackets: iscsi://[::1]:3260/iqn.x/0. Port defaults to 3260.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "initiator/error.hpp"

namespace iscsikit::initiator {

inline constexpr std::uint16_t kDefaultPort = 3260;

struct Portal {
    std::string host;  // name, IPv4 or IPv6 address (no brackets)
    std::uint16_t port = kDefaultPort;
    // "host:port", IPv6 in brackets: "[::1]:3260".
    std::string to_string() const;
    friend bool operator==(const Portal&, const Portal&) = default;
};

// "host", "host:port", "[v6]", "[v6]:port", "v6" (a bare IPv6 address has no port). invalid_argument
// with a message naming the text when it is none of those or the port is not 1..65535.
Result<Portal> parse_portal(std::string_view text);

struct Url {
    Portal portal;
    std::string target;                // empty for a discovery URL
    std::optional<std::uint64_t> lun;  // absent when the URL names no LUN
    std::string user, password;        // CHAP credentials, empty when not given

    // The URL back in canonical form, without the password (for logs and messages).
    std::string to_string() const;
};

// invalid_argument with a one-line message ("invalid iSCSI URL 'x': missing target name") when
// the text is not an iSCSI URL of the forms above. LUNs are decimal, 0..16383 (SAM-5 flat space).
Result<Url> parse_url(std::string_view text);

}  // namespace iscsikit::initiator
