// REPORT LUNS (SPC-4 §6.33) with single level LUN addresses (SAM-5 §4.7, encoded by scsi/lun.hpp).
#include <vector>

#include "scsi/lun.hpp"
#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {

Flow report_luns(Command& cmd, std::span<const std::uint64_t> luns) {
    const Cdb& c = cmd.cdb;
    const std::uint32_t allocation = load_be32(&c[6]);
    // SELECT REPORT: 00h and 02h list every LU (we have no well-known LUs), 01h only well-known LUs.
    const std::uint8_t select = c[2];
    if (select > 0x02) return fail(cmd, Sense::invalid_field_in_cdb(2));

    std::vector<std::uint8_t> d(8, 0);
    if (select != 0x01) {
        for (std::uint64_t lun : luns) {
            if (lun > kMaxLun) continue;  // not expressible in a single level
            std::uint8_t entry[8];
            store_be64(entry, encode_lun(lun));
            append(d, entry, sizeof entry);
        }
    }
    store_be32(d.data(), static_cast<std::uint32_t>(d.size() - 8));  // LUN LIST LENGTH
    return data_in(cmd, d.data(), d.size(), allocation);
}

// An LU asked directly (no Device in front) reports itself.
Flow report_luns_single(LuState&, Command& cmd, IoEngine&) {
    const std::uint64_t lun = cmd.lun;
    return report_luns(cmd, std::span<const std::uint64_t>(&lun, 1));
}

}  // namespace iscsikit::scsi::detail
