// iSCSI names (RFC 3720 §3.2.6, RFC 3722, RFC 3980): the rules a configured or offered name
// must follow, shared by the daemon's configuration and anything else that checks a name.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace iscsikit::iscsi {

// "iqn.YYYY-MM.reversed.domain[:name]" in lowercase, "eui." and 16 hex digits, or "naa." and 16
// or 32 hex digits; at most 223 bytes. The error says which rule failed, quoting the name
// ("'x' is not a valid iSCSI name: ...").
Result<void> check_iscsi_name(std::string_view name);

// The SCSI TransportID of an iSCSI initiator port (SPC-4 §7.6.4.6, FORMAT CODE 01b, RFC 7143
// §4.2.7.1's port name): protocol identifier 5h, then "<name>,i,0x<ISID in 12 hex digits>",
// NUL-terminated and zero-padded to a multiple of 4 bytes. Persistent reservations report it.
std::vector<std::uint8_t> initiator_port_transport_id(std::string_view initiator_name, std::uint64_t isid);

}  // namespace iscsikit::iscsi
