// The opcode table. CDB usage data marks every bit the device server looks at (SPC-4 §6.35.3);
// the last byte of each is the CONTROL byte, where only NACA (bit 2) is evaluated.
#include "scsi/opcodes.hpp"

namespace iscsikit::scsi::detail {
namespace {

constexpr std::uint16_t kIo = kMediaAccess;
constexpr std::uint16_t kRead = kMediaAccess | kPrReadAccess | kBlocks;  // reads: allowed through Write Exclusive types
constexpr std::uint16_t kWrite = kMediaAccess | kBlocks;
// COMPARE AND WRITE, ORWRITE and WRITE ATOMIC(16): writes no other command's blocks interleave with.
constexpr std::uint16_t kAtomicWrite = kWrite | kAtomic;
// INQUIRY, REQUEST SENSE and REPORT LUNS: no unit attention, no reservation conflict, and they run
// while a sanitize does, and in every asymmetric access state (SPC-4 §5.15.2.4.4, §5.15.2.4.5).
constexpr std::uint16_t kQuiet =
    kNoUnitAttention | kAllowedWhenReserved | kPrAllowed | kRunsWhileSanitizing | kAluaStandby | kAluaUnavailable;
// SPC-4 §6.15.4 ALLOW COMMANDS 011b: MODE SENSE, REPORT SUPPORTED OPERATION CODES and READ DEFECT
// DATA are allowed through Write Exclusive reservations, like reads.
constexpr std::uint16_t kInfo = kPrReadAccess;
// PERSISTENT RESERVE IN/OUT: allowed at the gate, whatever the reservations (SPC-2 §5.5.1 lets PR
// IN through a RESERVE(6); the PR OUT service actions check the keys themselves, SPC-4 §5.13.1).
// SPC-4 §5.15.2.4.4: both run in the standby asymmetric access state.
constexpr std::uint16_t kPrIn = kAllowedWhenReserved | kPrAllowed | kAluaStandby;
constexpr std::uint16_t kPrOut = kPrAllowed | kAluaStandby;
// SPC-4 §5.15.2.4.4: MODE SENSE and MODE SELECT run in the standby asymmetric access state.
constexpr std::uint16_t kModeSense = kInfo | kAluaStandby;
constexpr std::uint16_t kModeSelect = kAluaStandby;
// REPORT and SET TARGET PORT GROUPS are how an initiator finds and leaves a standby or unavailable
// group (SPC-4 §5.15.2.4.4, §5.15.2.4.5). REPORT is allowed under every persistent reservation
// (SPC-4 §5.13.1) and, like it, through a RESERVE(6); SET conflicts as a write does.
constexpr std::uint16_t kAluaAny = kAluaStandby | kAluaUnavailable;
constexpr std::uint16_t kReportGroups = kAllowedWhenReserved | kPrAllowed | kAluaAny;
// REPORT SUPPORTED OPERATION CODES reads nothing but this table: it runs in every state too.
constexpr std::uint16_t kReportOpcodes = kAllowedWhenReserved | kInfo | kAluaAny;
// SANITIZE accesses the medium, and is how a failed sanitize ends.
constexpr std::uint16_t kSanitize = kWrite | kLeavesSanitizeFailure;

// Rows sorted by opcode, then service action.
// clang-format off
constexpr OpcodeRow kRows[] = {
    {0x00, 0, false, 6, kPrAllowed, DataOut::none, test_unit_ready,
     {0x00, 0x00, 0x00, 0x00, 0x00, 0x04}, "TEST UNIT READY"},
    {0x03, 0, false, 6, kQuiet, DataOut::none, request_sense,
     {0x03, 0x01, 0x00, 0x00, 0xff, 0x04}, "REQUEST SENSE"},
    {0x08, 0, false, 6, kRead, DataOut::none, read,
     {0x08, 0x1f, 0xff, 0xff, 0xff, 0x04}, "READ(6)"},
    {0x0a, 0, false, 6, kWrite, DataOut::blocks, write,
     {0x0a, 0x1f, 0xff, 0xff, 0xff, 0x04}, "WRITE(6)"},
    {0x12, 0, false, 6, kQuiet, DataOut::none, inquiry,
     {0x12, 0x01, 0xff, 0xff, 0xff, 0x04}, "INQUIRY"},
    {0x15, 0, false, 6, kModeSelect, DataOut::parameter6, mode_select,
     {0x15, 0x11, 0x00, 0x00, 0xff, 0x04}, "MODE SELECT(6)"},
    {0x16, 0, false, 6, 0, DataOut::none, reserve6,
     {0x16, 0x00, 0x00, 0x00, 0x00, 0x04}, "RESERVE(6)"},
    {0x17, 0, false, 6, kAllowedWhenReserved, DataOut::none, release6,
     {0x17, 0x00, 0x00, 0x00, 0x00, 0x04}, "RELEASE(6)"},
    {0x1a, 0, false, 6, kModeSense, DataOut::none, mode_sense,
     {0x1a, 0x08, 0xff, 0xff, 0xff, 0x04}, "MODE SENSE(6)"},
    {0x1b, 0, false, 6, kPrByCdb, DataOut::none, start_stop_unit,
     {0x1b, 0x01, 0x00, 0x0f, 0xf7, 0x04}, "START STOP UNIT"},
    {0x1e, 0, false, 6, kPrByCdb, DataOut::none, prevent_allow_medium_removal,
     {0x1e, 0x00, 0x00, 0x00, 0x03, 0x04}, "PREVENT ALLOW MEDIUM REMOVAL"},
    {0x25, 0, false, 10, kIo | kPrAllowed, DataOut::none, read_capacity10,
     {0x25, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0x04}, "READ CAPACITY(10)"},
    {0x28, 0, false, 10, kRead, DataOut::none, read,
     {0x28, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x04}, "READ(10)"},
    {0x2a, 0, false, 10, kWrite, DataOut::blocks, write,
     {0x2a, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x04}, "WRITE(10)"},
    {0x2e, 0, false, 10, kWrite, DataOut::blocks, write_and_verify,
     {0x2e, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x04}, "WRITE AND VERIFY(10)"},
    {0x2f, 0, false, 10, kRead, DataOut::verify, verify,
     {0x2f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x04}, "VERIFY(10)"},
    {0x34, 0, false, 10, kRead, DataOut::none, pre_fetch,
     {0x34, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x04}, "PRE-FETCH(10)"},
    {0x35, 0, false, 10, kIo, DataOut::none, synchronize_cache,
     {0x35, 0x06, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x04}, "SYNCHRONIZE CACHE(10)"},
    {0x37, 0, false, 10, kIo | kInfo, DataOut::none, read_defect_data,
     {0x37, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "READ DEFECT DATA(10)"},
    {0x41, 0, false, 10, kWrite, DataOut::write_same, write_same,
     {0x41, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x04}, "WRITE SAME(10)"},
    {0x42, 0, false, 10, kWrite | kThinOnly, DataOut::parameter10, unmap,
     {0x42, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "UNMAP"},
    // SBC-3 §5.30: IMMED, AUSE and the PARAMETER LIST LENGTH (which only OVERWRITE may use). The
    // erase methods deallocate, so only a thin LU offers them (libiscsi's Sanitize.BlockErase
    // wants LBPME and every LBA deallocated after one).
    {0x48, 0x01, true, 10, kSanitize, DataOut::parameter10, sanitize,
     {0x48, 0xa1, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "SANITIZE OVERWRITE"},
    {0x48, 0x02, true, 10, kSanitize | kThinOnly, DataOut::parameter10, sanitize,
     {0x48, 0xa2, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "SANITIZE BLOCK ERASE"},
    {0x48, 0x03, true, 10, kSanitize | kThinOnly, DataOut::parameter10, sanitize,
     {0x48, 0xa3, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "SANITIZE CRYPTOGRAPHIC ERASE"},
    {0x48, 0x1f, true, 10, kSanitize, DataOut::parameter10, sanitize,
     {0x48, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "SANITIZE EXIT FAILURE MODE"},
    {0x55, 0, false, 10, kModeSelect, DataOut::parameter10, mode_select,
     {0x55, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "MODE SELECT(10)"},
    // SPC-2 §7.21, §7.17: as RESERVE(6) and RELEASE(6); third-party and long-ID forms refused.
    {0x56, 0, false, 10, 0, DataOut::none, reserve10,
     {0x56, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04}, "RESERVE(10)"},
    {0x57, 0, false, 10, kAllowedWhenReserved, DataOut::none, release10,
     {0x57, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04}, "RELEASE(10)"},
    {0x5a, 0, false, 10, kModeSense, DataOut::none, mode_sense,
     {0x5a, 0x18, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "MODE SENSE(10)"},
    {0x5e, 0x00, true, 10, kPrIn, DataOut::none, persistent_reserve_in,
     {0x5e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE IN"},
    {0x5e, 0x01, true, 10, kPrIn, DataOut::none, persistent_reserve_in,
     {0x5e, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE IN"},
    {0x5e, 0x02, true, 10, kPrIn, DataOut::none, persistent_reserve_in,
     {0x5e, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE IN"},
    {0x5e, 0x03, true, 10, kPrIn, DataOut::none, persistent_reserve_in,
     {0x5e, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE IN"},
    {0x5f, 0x00, true, 10, kPrOut, DataOut::parameter5_8, persistent_reserve_out,
     {0x5f, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE OUT"},
    {0x5f, 0x01, true, 10, kPrOut, DataOut::parameter5_8, persistent_reserve_out,
     {0x5f, 0x01, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE OUT"},
    {0x5f, 0x02, true, 10, kPrOut, DataOut::parameter5_8, persistent_reserve_out,
     {0x5f, 0x02, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE OUT"},
    {0x5f, 0x03, true, 10, kPrOut, DataOut::parameter5_8, persistent_reserve_out,
     {0x5f, 0x03, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE OUT"},
    {0x5f, 0x04, true, 10, kPrOut, DataOut::parameter5_8, persistent_reserve_out,
     {0x5f, 0x04, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE OUT"},
    {0x5f, 0x05, true, 10, kPrOut, DataOut::parameter5_8, persistent_reserve_out,
     {0x5f, 0x05, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE OUT"},
    {0x5f, 0x06, true, 10, kPrOut, DataOut::parameter5_8, persistent_reserve_out,
     {0x5f, 0x06, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE OUT"},
    // SPC-4 §5.13.8: REGISTER AND MOVE ignores SCOPE and TYPE; the reservation keeps its own.
    {0x5f, 0x07, true, 10, kPrOut, DataOut::parameter5_8, persistent_reserve_out,
     {0x5f, 0x07, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x04}, "PERSISTENT RESERVE OUT"},
    // SPC-4 §6.4: EXTENDED COPY(LID1), conflicting with reservations as a write does; SPC-4
    // §6.18: RECEIVE COPY RESULTS(LID1), COPY STATUS and OPERATING PARAMETERS, which only read.
    {0x83, 0x00, true, 16, kWrite, DataOut::parameter10_13, extended_copy,
     {0x83, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04},
     "EXTENDED COPY(LID1)"},
    {0x84, 0x00, true, 16, kInfo, DataOut::none, receive_copy_results,
     {0x84, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04},
     "RECEIVE COPY RESULTS(LID1) COPY STATUS"},
    {0x84, 0x03, true, 16, kInfo, DataOut::none, receive_copy_results,
     {0x84, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04},
     "RECEIVE COPY RESULTS(LID1) OPERATING PARAMETERS"},
    {0x88, 0, false, 16, kRead, DataOut::none, read,
     {0x88, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04}, "READ(16)"},
    // SBC-3 §5.2: the compare and the write as one uninterrupted action; FUA_NV (bit 1) is accepted.
    {0x89, 0, false, 16, kAtomicWrite, DataOut::compare, compare_and_write,
     {0x89, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0x1f, 0x04},
     "COMPARE AND WRITE"},
    {0x8a, 0, false, 16, kWrite, DataOut::blocks, write,
     {0x8a, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04}, "WRITE(16)"},
    // SBC-3 §5.14: the medium's blocks ORed with the data-out, read and written as one action.
    {0x8b, 0, false, 16, kAtomicWrite, DataOut::blocks, orwrite,
     {0x8b, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04}, "ORWRITE(16)"},
    {0x8e, 0, false, 16, kWrite, DataOut::blocks, write_and_verify,
     {0x8e, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04},
     "WRITE AND VERIFY(16)"},
    {0x8f, 0, false, 16, kRead, DataOut::verify, verify,
     {0x8f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04}, "VERIFY(16)"},
    {0x90, 0, false, 16, kRead, DataOut::none, pre_fetch,
     {0x90, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04},
     "PRE-FETCH(16)"},
    {0x91, 0, false, 16, kIo, DataOut::none, synchronize_cache,
     {0x91, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04},
     "SYNCHRONIZE CACHE(16)"},
    {0x93, 0, false, 16, kWrite, DataOut::write_same, write_same,
     {0x93, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04},
     "WRITE SAME(16)"},
    // SBC-4 §5.48: ATOMIC BOUNDARY (bytes 10-11) must be 0, as MAXIMUM ATOMIC BOUNDARY SIZE is.
    {0x9c, 0, false, 16, kAtomicWrite, DataOut::atomic16, write_atomic16,
     {0x9c, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04},
     "WRITE ATOMIC(16)"},
    {0x9e, 0x10, true, 16, kIo | kPrAllowed, DataOut::none, read_capacity16,
     {0x9e, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x04},
     "READ CAPACITY(16)"},
    {0x9e, 0x12, true, 16, kMediaAccess | kPrReadAccess, DataOut::none, get_lba_status,
     {0x9e, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04},
     "GET LBA STATUS"},
    {0xa0, 0, false, 12, kQuiet, DataOut::none, report_luns_single,
     {0xa0, 0x00, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}, "REPORT LUNS"},
    // SPC-4 §6.36: PARAMETER DATA FORMAT (byte 1 bits 7-5) and ALLOCATION LENGTH.
    {0xa3, 0x0a, true, 12, kReportGroups, DataOut::none, report_target_port_groups,
     {0xa3, 0xea, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}, "REPORT TARGET PORT GROUPS"},
    {0xa3, 0x0c, true, 12, kReportOpcodes, DataOut::none, report_supported_operation_codes,
     {0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}, "REPORT SUPPORTED OPERATION CODES"},
    // SPC-4 §6.46: PARAMETER LIST LENGTH in bytes 6-9.
    {0xa4, 0x0a, true, 12, kAluaAny, DataOut::parameter6_9, set_target_port_groups,
     {0xa4, 0x0a, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}, "SET TARGET PORT GROUPS"},
    {0xa8, 0, false, 12, kRead, DataOut::none, read,
     {0xa8, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04}, "READ(12)"},
    {0xaa, 0, false, 12, kWrite, DataOut::blocks, write,
     {0xaa, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04}, "WRITE(12)"},
    {0xae, 0, false, 12, kWrite, DataOut::blocks, write_and_verify,
     {0xae, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04}, "WRITE AND VERIFY(12)"},
    {0xaf, 0, false, 12, kRead, DataOut::verify, verify,
     {0xaf, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x04}, "VERIFY(12)"},
    {0xb7, 0, false, 12, kIo | kInfo, DataOut::none, read_defect_data,
     {0xb7, 0x1f, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}, "READ DEFECT DATA(12)"},
};
// clang-format on

constexpr std::size_t kRowCount = sizeof(kRows) / sizeof(kRows[0]);

// first_row[opcode] = index of its first row + 1, or 0: dispatch is one array load.
struct Index {
    std::array<std::uint8_t, 256> first_row{};
    constexpr Index() {
        for (std::size_t i = kRowCount; i-- > 0;) first_row[kRows[i].opcode] = static_cast<std::uint8_t>(i + 1);
    }
};
constexpr Index kIndex{};
static_assert(kRowCount < 255);

}  // namespace

std::span<const OpcodeRow> opcode_table() { return {kRows, kRowCount}; }

Lookup find_command(std::uint8_t opcode, std::uint16_t service_action) {
    const std::size_t first = kIndex.first_row[opcode];
    if (first == 0) return {};
    const OpcodeRow* row = &kRows[first - 1];
    if (!row->has_service_action) return {row, true};
    for (; row != kRows + kRowCount && row->opcode == opcode; ++row)
        if (row->service_action == service_action) return {row, true};
    return {nullptr, true};
}

Lookup offered_by(const LuState& lu, Lookup found) {
    if (found.row == nullptr || !(found.row->flags & kThinOnly) || lu.identity.thin) return found;
    return {nullptr, found.row->has_service_action};
}

Lookup find_command(const Cdb& cdb) { return find_command(cdb[0], static_cast<std::uint16_t>(cdb[1] & 0x1f)); }

std::uint32_t data_out_bytes(const OpcodeRow& row, const Cdb& cdb, std::uint32_t block_size) {
    std::uint64_t bytes = 0;
    switch (row.data_out) {
        case DataOut::none: return 0;
        case DataOut::blocks: bytes = std::uint64_t{cdb::extent(cdb).blocks} * block_size; break;
        case DataOut::verify:
            // SBC-4 §5.30: BYTCHK 01b compares every block, 11b one block against each.
            switch ((cdb[1] >> 1) & 0x03) {
                case 1: bytes = std::uint64_t{cdb::extent(cdb).blocks} * block_size; break;
                case 3: bytes = cdb::extent(cdb).blocks != 0 ? block_size : 0; break;
                default: return 0;
            }
            break;
        case DataOut::write_same:
            // SBC-4 §5.50: NDOB (WRITE SAME(16) only) means no data-out; the block is zeros.
            return (cdb[0] == 0x93 && (cdb[1] & 0x01)) ? 0 : block_size;
        case DataOut::parameter6: return cdb[4];
        case DataOut::parameter10: return load_be16(&cdb[7]);
        case DataOut::parameter5_8: bytes = load_be32(&cdb[5]); break;
        case DataOut::parameter10_13: bytes = load_be32(&cdb[10]); break;
        case DataOut::parameter6_9: bytes = load_be32(&cdb[6]); break;
        case DataOut::compare: bytes = 2 * std::uint64_t{cdb[13]} * block_size; break;
        case DataOut::atomic16: bytes = std::uint64_t{load_be16(&cdb[12])} * block_size; break;
    }
    return bytes > kMaxTransferBytes ? 0 : static_cast<std::uint32_t>(bytes);
}

}  // namespace iscsikit::scsi::detail
