// The 8-byte LUN field of iSCSI PDUs (SAM-5 §4.7): single-level peripheral (00b) or flat (01b)
// addressing of LUNs 0 to 16383.
#pragma once

#include <cstdint>

namespace iscsikit::target {

inline constexpr std::uint64_t kInvalidLun = ~0ull;

constexpr std::uint64_t decode_lun(std::uint64_t field) {
    const auto b0 = static_cast<std::uint8_t>(field >> 56);
    const auto b1 = static_cast<std::uint8_t>(field >> 48);
    if ((field & 0x0000ffffffffffffull) != 0) return kInvalidLun;
    switch (b0 >> 6) {
    case 0: return (b0 & 0x3f) == 0 ? b1 : kInvalidLun;
    case 1: return (std::uint64_t{b0 & 0x3fu} << 8) | b1;
    default: return kInvalidLun;
    }
}

constexpr std::uint64_t encode_lun(std::uint64_t lun) {
    return lun < 256 ? lun << 48 : (0x4000ull | lun) << 48;
}

}  // namespace iscsikit::target
