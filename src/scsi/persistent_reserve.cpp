// PERSISTENT RESERVE IN (SPC-4 §6.15) for a logical unit that holds no persistent reservations:
// every service action answers truthfully that there are no keys, no reservation and no
// supported reservation types. PERSISTENT RESERVE OUT is not in the opcode table, so it gets
// INVALID COMMAND OPERATION CODE until persistent reservations are implemented.
#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {

Flow persistent_reserve_in(LuState&, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    const std::uint32_t allocation = load_be16(&c[7]);
    switch (c[1] & 0x1f) {
        case 0x00:    // READ KEYS (§6.15.2): PRGENERATION 0, no keys
        case 0x01: {  // READ RESERVATION (§6.15.3): PRGENERATION 0, no reservation
            begin_data_in(cmd, 8);
            return end_data_in(cmd, 8, allocation);
        }
        case 0x02: {  // REPORT CAPABILITIES (§6.15.4)
            std::uint8_t* d = begin_data_in(cmd, 8);
            store_be16(&d[0], 8);  // LENGTH
            d[3] = 0x80;           // TMV: the type mask below is valid, and it says no type is supported
            return end_data_in(cmd, 8, allocation);
        }
        case 0x03:  // READ FULL STATUS (§6.15.5): PRGENERATION 0, no descriptors
            begin_data_in(cmd, 8);
            return end_data_in(cmd, 8, allocation);
        default: return fail(cmd, Sense::invalid_field_in_cdb(1, 4));
    }
}

}  // namespace iscsikit::scsi::detail
