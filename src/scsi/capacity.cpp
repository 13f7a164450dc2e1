// READ CAPACITY(10/16) (SBC-3 §5.16-5.17) and READ DEFECT DATA(10/12) (SBC-3 §5.19-5.20).
#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {

Flow read_capacity10(LuState& lu, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    // SBC-3 §5.16: with PMI zero the LOGICAL BLOCK ADDRESS must be zero.
    if (!(c[8] & 0x01) && load_be32(&c[2]) != 0) return fail(cmd, Sense::invalid_field_in_cdb(2));
    const std::uint64_t last = lu.block_count() - 1;
    std::uint8_t* d = begin_data_in(cmd, 8);
    // FFFFFFFFh tells the initiator to use READ CAPACITY(16).
    store_be32(d, last > 0xfffffffeu ? 0xffffffffu : static_cast<std::uint32_t>(last));
    store_be32(d + 4, lu.block_size);
    return end_data_in(cmd, 8, 8);
}

Flow read_capacity16(LuState& lu, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    if (!(c[14] & 0x01) && load_be64(&c[2]) != 0) return fail(cmd, Sense::invalid_field_in_cdb(2));
    std::uint8_t* d = begin_data_in(cmd, 32);
    store_be64(d, lu.block_count() - 1);
    store_be32(d + 8, lu.block_size);
    // Byte 12: no protection information. Byte 13: LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT.
    d[13] = lu.lbppb_exponent;
    // Byte 14: a thin LU has logical block provisioning management (LBPME), and its deallocated
    // blocks read as zeros (LBPRZ; SBC-3 §4.7).
    d[14] = lu.identity.thin ? 0xc0 : 0x00;
    return end_data_in(cmd, 32, load_be32(&c[10]));
}

Flow read_defect_data(LuState&, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    const bool twelve = c[0] == 0xb7;
    // Flags live in byte 2 of the 10-byte CDB and byte 1 of the 12-byte one.
    const std::uint8_t flags = twelve ? c[1] : c[2];
    const std::uint32_t allocation = twelve ? load_be32(&c[6]) : load_be16(&c[7]);
    // A virtual medium has no defects: both lists are valid and empty, in the requested format.
    const std::uint8_t request = flags & 0x1f;  // REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT
    const std::size_t header = twelve ? 8 : 4;
    std::uint8_t* d = begin_data_in(cmd, header);
    d[1] = request;
    return end_data_in(cmd, header, allocation);
}

}  // namespace iscsikit::scsi::detail
