// The 8-byte LUN field (SAM-5 §4.7) as iSCSI PDUs and REPORT LUNS carry it, read as one big-endian
// number. One codec for the target (decoding PDUs, encoding REPORT LUNS) and the initiator (the
// reverse). Only single-level addressing is supported: peripheral device addressing (00b, bus 0)
// for LUNs below 256, flat space addressing (01b) up to kMaxLun. Every other form (a bus other
// than 0, logical unit or extended addressing, a second level) is unsupported: decode_lun says so
// with nullopt, the target answers LOGICAL UNIT NOT SUPPORTED and the initiator leaves such
// entries of a REPORT LUNS list out (it could not address them).
#pragma once

#include <cstdint>
#include <optional>

namespace iscsikit::scsi {

inline constexpr std::uint64_t kMaxLun = 16383;  // SAM-5 §4.7.7: 14 bits of flat space

// A LUN number no Device holds (above kMaxLun): what a command with an unsupported LUN field
// addresses, so the lookup fails and the Device answers LOGICAL UNIT NOT SUPPORTED.
inline constexpr std::uint64_t kNoLun = ~0ull;

// An extended-addressing field (11b), which decode_lun refuses: encode_lun's answer for a LUN it
// cannot express, so a LUN beyond kMaxLun is never truncated into another LUN's address.
inline constexpr std::uint64_t kUnsupportedLunField = ~0ull;

constexpr std::optional<std::uint64_t> decode_lun(std::uint64_t field) {
    if ((field & 0x0000ffffffffffffull) != 0) return std::nullopt;  // bytes 2-7: a second level
    const auto b0 = static_cast<std::uint8_t>(field >> 56);
    const auto b1 = static_cast<std::uint8_t>(field >> 48);
    switch (b0 >> 6) {
        case 0b00: return (b0 & 0x3f) == 0 ? std::optional<std::uint64_t>{b1} : std::nullopt;  // §4.7.6, bus 0 only
        case 0b01: return (std::uint64_t{b0 & 0x3fu} << 8) | b1;                               // §4.7.7 flat space
        default: return std::nullopt;  // 10b logical unit, 11b extended addressing
    }
}

constexpr std::uint64_t encode_lun(std::uint64_t lun) {
    if (lun < 256) return lun << 48;                     // §4.7.6 peripheral device, bus 0
    if (lun <= kMaxLun) return (0x4000ull | lun) << 48;  // §4.7.7 flat space
    return kUnsupportedLunField;
}

}  // namespace iscsikit::scsi
