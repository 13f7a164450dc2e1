// Reading CDB fields (SPC-4 §4.2): big-endian fields at fixed offsets, decoded one by one with the
// helpers of core/bytes.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/bytes.hpp"  // load_be16 ... for CDB fields

namespace iscsikit::scsi {

using Cdb = std::array<std::uint8_t, 16>;

namespace cdb {

// SPC-4 §4.2.5.1: the operation code's group fixes the CDB length (0 for reserved/vendor groups).
constexpr std::size_t length_of_group(std::uint8_t opcode) {
    switch (opcode >> 5) {
        case 0: return 6;
        case 1:
        case 2: return 10;
        case 4: return 16;
        case 5: return 12;
        default: return 0;
    }
}

// The LBA and block count of a block command (SBC-3 §5): READ/WRITE/VERIFY/WRITE AND
// VERIFY/WRITE SAME/PRE-FETCH/SYNCHRONIZE CACHE all place them by CDB size.
struct Extent {
    std::uint64_t lba = 0;
    std::uint32_t blocks = 0;
    std::size_t length_field = 0;  // CDB byte of the TRANSFER/VERIFICATION LENGTH (field pointers)
};

inline Extent extent(const Cdb& c) {
    switch (length_of_group(c[0])) {
        case 6:  // SBC-3 §5.15, §5.33: READ(6)/WRITE(6), 21-bit LBA; length 0 means 256 blocks.
            return {load_be24(&c[1]) & 0x1fffffu, c[4] == 0 ? 256u : c[4], 4};
        case 10: return {load_be32(&c[2]), load_be16(&c[7]), 7};
        case 12: return {load_be32(&c[2]), load_be32(&c[6]), 6};
        case 16: return {load_be64(&c[2]), load_be32(&c[10]), 10};
        default: return {};
    }
}

}  // namespace cdb
}  // namespace iscsikit::scsi
