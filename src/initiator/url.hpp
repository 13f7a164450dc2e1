// iSCSI URLs as libiscsi writes them:
//   iscsi://[user[%password]@]host[:port]/target-iqn/lun   (a LUN)
//   iscsi://[user[%password]@]host[:port]/target-iqn       (a target; tools that need a LUN use 0)
//   iscsi://[user[%password]@]host[:port][/]               (a portal, for discovery)
// host[:port] is a portal as iscsi/portal.hpp reads it: port 3260 when absent, IPv6 in brackets
// when it has a port (iscsi://[::1]:3260/iqn.x/0).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "initiator/error.hpp"
#include "iscsi/portal.hpp"

namespace iscsikit::initiator {

using Portal = iscsi::Portal;

// iscsi::parse_portal with the tool's context: invalid_argument, "invalid portal 'x': why".
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
