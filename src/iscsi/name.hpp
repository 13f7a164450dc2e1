// iSCSI names (RFC 3720 §3.2.6, RFC 3722, RFC 3980): the rules a configured or offered name
// must follow, shared by the daemon's configuration and anything else that checks a name.
#pragma once

#include <string_view>

#include "core/result.hpp"

namespace iscsikit::iscsi {

// "iqn.YYYY-MM.reversed.domain[:name]" in lowercase, "eui." and 16 hex digits, or "naa." and 16
// or 32 hex digits; at most 223 bytes. The error says which rule failed, quoting the name
// ("'x' is not a valid iSCSI name: ...").
Result<void> check_iscsi_name(std::string_view name);

}  // namespace iscsikit::iscsi
