// REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35), answered from the opcode table itself.
#include <algorithm>
#include <vector>

#include "scsi/opcodes.hpp"

namespace iscsikit::scsi::detail {
namespace {

constexpr std::uint32_t kNominalTimeoutSeconds = 0;  // "not specified"
constexpr std::uint32_t kRecommendedTimeoutSeconds = 60;

// SPC-4 §6.35.4: command timeouts descriptor.
void put_timeouts(std::vector<std::uint8_t>& d) {
    std::uint8_t t[12] = {0x00, 0x0a};
    store_be32(t + 4, kNominalTimeoutSeconds);
    store_be32(t + 8, kRecommendedTimeoutSeconds);
    append(d, t, sizeof t);
}

std::vector<std::uint8_t> all_commands(const LuState& lu, bool timeouts) {
    std::vector<std::uint8_t> d(4, 0);
    for (const OpcodeRow& row : opcode_table()) {
        if (offered_by(lu, {&row, true}).row == nullptr) continue;
        // SPC-4 §6.35.3: command descriptor.
        std::uint8_t c[8] = {row.opcode};
        if (row.has_service_action) store_be16(c + 2, row.service_action);
        c[5] = static_cast<std::uint8_t>((timeouts ? 0x02 : 0x00) | (row.has_service_action ? 0x01 : 0x00));
        store_be16(c + 6, row.cdb_length);
        append(d, c, sizeof c);
        if (timeouts) put_timeouts(d);
    }
    store_be32(d.data(), static_cast<std::uint32_t>(d.size() - 4));  // COMMAND DATA LENGTH
    return d;
}

std::vector<std::uint8_t> one_command(const OpcodeRow* row, bool timeouts) {
    // SPC-4 §6.35.5: SUPPORT 011b (supported as the standard says) or 001b (not supported).
    std::vector<std::uint8_t> d(4, 0);
    d[1] = static_cast<std::uint8_t>((timeouts ? 0x80 : 0x00) | (row ? 0x03 : 0x01));
    if (row) {
        store_be16(&d[2], row->cdb_length);
        append(d, row->usage.data(), row->cdb_length);
        if (timeouts) put_timeouts(d);
    }
    return d;
}

}  // namespace

Flow report_supported_operation_codes(LuState& lu, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    const bool timeouts = c[2] & 0x80;  // RCTD
    const std::uint8_t options = c[2] & 0x07;
    const std::uint8_t opcode = c[3];
    const std::uint16_t service_action = load_be16(&c[4]);
    const std::uint32_t allocation = load_be32(&c[6]);

    const auto find = [&lu](std::uint8_t op, std::uint16_t sa) { return offered_by(lu, find_command(op, sa)); };
    const Lookup plain = find(opcode, 0);
    const bool has_service_actions = plain.opcode_known && (plain.row == nullptr || plain.row->has_service_action);
    std::vector<std::uint8_t> d;
    switch (options) {
        case 0: d = all_commands(lu, timeouts); break;
        case 1:  // opcode only: an error for opcodes that have service actions
            if (has_service_actions) return fail(cmd, Sense::invalid_field_in_cdb(2, 2));
            d = one_command(plain.row, timeouts);
            break;
        case 2:  // opcode and service action: an error for opcodes without them
            if (!has_service_actions && plain.opcode_known) return fail(cmd, Sense::invalid_field_in_cdb(2, 2));
            d = one_command(find(opcode, service_action).row, timeouts);
            break;
        case 3:  // SPC-4 r37: opcode, and service action when it has them
            d = one_command(has_service_actions ? find(opcode, service_action).row : plain.row, timeouts);
            break;
        default: return fail(cmd, Sense::invalid_field_in_cdb(2, 2));
    }
    return data_in(cmd, d.data(), d.size(), allocation);
}

}  // namespace iscsikit::scsi::detail
