// Device: the LUN map of one SCSI target device. REPORT LUNS is answered here, where the map is
// known; a command to a LUN that does not exist gets ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED
// (SPC-4 §4.5.6), except INQUIRY and REQUEST SENSE, which answer for the absent unit.
#include <vector>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi {

using namespace detail;

void Device::add(std::uint64_t lun, std::shared_ptr<LogicalUnit> unit, bool read_only) {
    units_[lun] = Entry{std::move(unit), read_only};
}

void Device::remove(std::uint64_t lun) { units_.erase(lun); }

std::shared_ptr<LogicalUnit> Device::unit(std::uint64_t lun) const {
    auto it = units_.find(lun);
    return it == units_.end() ? nullptr : it->second.unit;
}

LogicalUnit* Device::find(std::uint64_t lun) const {
    auto it = units_.find(lun);
    return it == units_.end() ? nullptr : it->second.unit.get();
}

std::vector<std::uint64_t> Device::luns() const {
    std::vector<std::uint64_t> out;
    out.reserve(units_.size());
    for (const auto& [lun, unit] : units_) out.push_back(lun);
    return out;
}

namespace {

// SPC-4 §6.6.2: standard INQUIRY data for a LUN with no logical unit behind it: peripheral
// qualifier 011b, device type 1Fh.
Flow inquiry_absent(Command& cmd) {
    const std::uint32_t allocation = load_be16(&cmd.cdb[3]);
    if (cmd.cdb[1] & 0x03) return fail(cmd, Sense::lun_not_supported());
    std::uint8_t d[36] = {0x7f, 0x00, 0x06, 0x02, 31};
    for (std::size_t i = 8; i < 36; ++i) d[i] = ' ';
    return data_in(cmd, d, sizeof d, allocation);
}

// SPC-4 §6.39: REQUEST SENSE to an absent LUN succeeds and reports LOGICAL UNIT NOT SUPPORTED.
Flow request_sense_absent(Command& cmd) {
    std::uint8_t bytes[Sense::kFixedLength];
    Sense::lun_not_supported().encode_fixed_into(bytes);
    if (cmd.cdb[1] & 0x01) {
        const auto descriptor = Sense::lun_not_supported().encode_descriptor();
        return data_in(cmd, descriptor.data(), descriptor.size(), cmd.cdb[4]);
    }
    return data_in(cmd, bytes, sizeof bytes, cmd.cdb[4]);
}

}  // namespace

void Device::execute(Command& cmd, IoEngine& io, CommandDone done) const {
    const std::uint8_t opcode = cmd.cdb[0];
    if (opcode == 0xa0) {  // REPORT LUNS: the device answers, whichever LUN it was sent to
        cmd.status = Status::good;
        cmd.sense = {};
        const std::vector<std::uint64_t> list = luns();
        report_luns(cmd, list);
        return done();
    }
    if (auto it = units_.find(cmd.lun); it != units_.end()) {
        cmd.read_only = it->second.read_only;
        return it->second.unit->execute(cmd, io, std::move(done));
    }

    cmd.status = Status::good;
    cmd.sense = {};
    cmd.data_in_length = 0;
    switch (opcode) {
        case 0x12: inquiry_absent(cmd); break;
        case 0x03: request_sense_absent(cmd); break;
        default: fail(cmd, Sense::lun_not_supported()); break;
    }
    done();
}

void Device::reset(bool cold) const {
    // RFC 7143 §11.5.1: a target reset resets every logical unit; the UA says which kind.
    for (const auto& [lun, entry] : units_) entry.unit->reset(cold ? 0x01 : 0x02);
}

void Device::unit_attention_all(std::uint8_t asc, std::uint8_t ascq) const {
    for (const auto& [lun, entry] : units_) entry.unit->unit_attention_all(asc, ascq);
}

}  // namespace iscsikit::scsi
