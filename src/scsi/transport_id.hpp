// SCSI TransportIDs of iSCSI initiator ports (SPC-4 §7.6.4.6), read from a PERSISTENT RESERVE
// OUT parameter list (SPEC_I_PT) or from a command's own (Command::transport_id), and matched
// against each other. The iSCSI layer builds them (iscsi/name.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace iscsikit::scsi {

// The initiator port, or ports, a TransportID names.
struct IscsiPortName {
    std::string name;                   // the iSCSI name, case-folded (RFC 3722 §6)
    std::optional<std::uint64_t> isid;  // FORMAT CODE 01b; 00b (none) names every port of the initiator
    bool operator==(const IscsiPortName&) const = default;
};

// One TransportID read from the start of `bytes`: how many bytes it takes (4 + ADDITIONAL
// LENGTH) and the port it names, or the byte (and bit) of it that is wrong.
struct ParsedTransportId {
    std::size_t length = 0;
    std::optional<IscsiPortName> port;
    std::uint16_t bad_byte = 0;
    std::optional<std::uint8_t> bad_bit;
};
ParsedTransportId parse_transport_id(std::span<const std::uint8_t> bytes);

// The port of a command's own TransportID (FORMAT CODE 01b from an iSCSI session); nullopt when
// the transport gave none or one this code does not read.
std::optional<IscsiPortName> port_of(std::span<const std::uint8_t> transport_id);

// Whether the initiator port `port` (with its ISID) is one that `pattern` names.
inline bool names_port(const IscsiPortName& pattern, const IscsiPortName& port) {
    return pattern.name == port.name && (!pattern.isid || pattern.isid == port.isid);
}

}  // namespace iscsikit::scsi
