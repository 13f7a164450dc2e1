// SPC-4 §7.6.4.6: the iSCSI TransportID, PROTOCOL IDENTIFIER 5h. FORMAT CODE 00b carries an
// iSCSI name; 01b an initiator port name, "<iSCSI name>,i,0x<ISID in hex>" (RFC 7143 §4.2.7.1).
// Both are NUL-terminated and padded so that ADDITIONAL LENGTH is a multiple of four.
#include "scsi/transport_id.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "core/bytes.hpp"

namespace iscsikit::scsi {
namespace {

constexpr std::uint8_t kProtocolIscsi = 0x5;
constexpr std::string_view kSeparator = ",i,0x";  // SPC-4 §7.6.4.6: 2C 69 2C 30 78h

ParsedTransportId bad(std::uint16_t byte, std::optional<std::uint8_t> bit = std::nullopt) {
    ParsedTransportId p;
    p.bad_byte = byte;
    p.bad_bit = bit;
    return p;
}

std::optional<std::uint64_t> hex(std::string_view digits) {
    // The ISID is 6 bytes: at most 12 hex digits.
    if (digits.empty() || digits.size() > 12) return std::nullopt;
    std::uint64_t v = 0;
    const char* end = digits.data() + digits.size();
    const auto [stop, ec] = std::from_chars(digits.data(), end, v, 16);
    if (ec != std::errc{} || stop != end) return std::nullopt;
    return v;
}

}  // namespace

ParsedTransportId parse_transport_id(std::span<const std::uint8_t> bytes) {
    if (bytes.size() < 4) return bad(2);
    if ((bytes[0] & 0x0f) != kProtocolIscsi) return bad(0, 3);  // PROTOCOL IDENTIFIER
    const std::uint8_t format = bytes[0] >> 6;
    if (format > 1 || (bytes[0] & 0x30) != 0) return bad(0, 7);  // FORMAT CODE, then reserved bits
    const std::size_t additional = load_be16(&bytes[2]);
    // ADDITIONAL LENGTH: a multiple of four, within what is there.
    if (additional == 0 || additional % 4 != 0 || 4 + additional > bytes.size()) return bad(2);
    const auto* text = reinterpret_cast<const char*>(bytes.data() + 4);
    const std::string_view field(text, additional);
    const std::size_t nul = field.find('\0');
    if (nul == std::string_view::npos || nul == 0) return bad(4);  // the name must end with a NUL
    std::string_view name = field.substr(0, nul);
    IscsiPortName port;
    if (format == 1) {
        const std::size_t at = name.find(kSeparator);
        if (at == std::string_view::npos || at == 0) return bad(4);
        port.isid = hex(name.substr(at + kSeparator.size()));
        if (!port.isid) return bad(static_cast<std::uint16_t>(4 + at + kSeparator.size()));
        name = name.substr(0, at);
    }
    // An iSCSI name has no comma (RFC 3720 §3.2.6.2): a 00b name with one is a port name.
    if (name.find(',') != std::string_view::npos) return bad(4);
    port.name.assign(name);
    std::transform(port.name.begin(), port.name.end(), port.name.begin(),
                   [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
    ParsedTransportId parsed;
    parsed.length = 4 + additional;
    parsed.port = std::move(port);
    return parsed;
}

std::optional<IscsiPortName> port_of(std::span<const std::uint8_t> transport_id) {
    if (transport_id.empty()) return std::nullopt;
    return parse_transport_id(transport_id).port;
}

}  // namespace iscsikit::scsi
