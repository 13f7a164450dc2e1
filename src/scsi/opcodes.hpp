// The one opcode table (STYLE.md rule 3): every command this LU runs, with its CDB length, the
// CDB usage data REPORT SUPPORTED OPERATION CODES returns, how much data-out it takes, what the
// dispatcher must check before it runs, and the handler. Adding a command is one row.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {

enum RowFlags : std::uint16_t {
    kMediaAccess = 1 << 0,          // NOT READY while the medium is absent or the unit stopped
    kNoUnitAttention = 1 << 1,      // SPC-4 §5.11: INQUIRY, REPORT LUNS, REQUEST SENSE don't report UAs
    kAllowedWhenReserved = 1 << 2,  // SPC-2 §5.5.1: runs despite another nexus's RESERVE(6)
    kThinOnly = 1 << 3,             // SBC-3 §6.5.4 LBPU: only a thin LU knows it; others answer 20h/00h
    // How a command fares under another I_T nexus's persistent reservation (SPC-4 §5.13.1 table
    // "SPC commands that are allowed in the presence of various reservations", SBC-3 §4.17 the
    // same for block commands). A row with none of these conflicts (a write: the safe default).
    kPrAllowed = 1 << 4,              // allowed under every type
    kPrReadAccess = 1 << 5,           // conflicts only with the Exclusive Access types
    kPrByCdb = 1 << 6,                // allowed or not by its CDB: reservation_exempt_by_cdb()
    kRunsWhileSanitizing = 1 << 7,    // SBC-4 §4.11: processed while a sanitize runs, or after one failed
    kLeavesSanitizeFailure = 1 << 8,  // SBC-4 §4.11: SANITIZE, processed after a sanitize failed
    // Reads or writes blocks: waits while an atomic command holds its blocks (extent_lock.hpp).
    kBlocks = 1 << 9,
    // COMPARE AND WRITE, ORWRITE, WRITE ATOMIC: no other command touches its blocks meanwhile.
    kAtomic = 1 << 10,
    // SPC-4 §5.15.2.4.4 and §5.15.2.4.5: runs while the LU's target port group is in the standby,
    // or the unavailable, asymmetric access state; other commands get NOT READY (alua.cpp).
    kAluaStandby = 1 << 14,
    kAluaUnavailable = 1 << 15,
};

enum class DataOut : std::uint8_t {
    none,
    blocks,          // TRANSFER LENGTH blocks
    verify,          // by BYTCHK: none, TRANSFER LENGTH blocks, or one block
    write_same,      // one block unless NDOB
    parameter6,      // PARAMETER LIST LENGTH in byte 4
    parameter10,     // PARAMETER LIST LENGTH in bytes 7-8
    parameter5_8,    // PARAMETER LIST LENGTH in bytes 5-8 (PERSISTENT RESERVE OUT)
    parameter10_13,  // PARAMETER LIST LENGTH in bytes 10-13 (EXTENDED COPY)
    parameter6_9,    // PARAMETER LIST LENGTH in bytes 6-9 (SET TARGET PORT GROUPS)
    compare,         // twice NUMBER OF LOGICAL BLOCKS (byte 13) blocks: COMPARE AND WRITE
    atomic16,        // TRANSFER LENGTH in bytes 12-13 blocks: WRITE ATOMIC(16)
};

struct OpcodeRow {
    std::uint8_t opcode;
    std::uint16_t service_action;
    bool has_service_action;
    std::uint8_t cdb_length;
    std::uint16_t flags;
    DataOut data_out;
    Handler handler;
    std::array<std::uint8_t, 16> usage;  // CDB USAGE DATA (SPC-4 §6.35.3); byte 0 is the opcode
    const char* name;
};

std::span<const OpcodeRow> opcode_table();

struct Lookup {
    const OpcodeRow* row = nullptr;
    bool opcode_known = false;  // true with row == nullptr: the service action is not supported
};
// Finds the row for a CDB (opcode, and the service action in byte 1 for opcodes that have them).
Lookup find_command(const Cdb& cdb);
// For REPORT SUPPORTED OPERATION CODES: the row for an opcode and (when it has them) service action.
Lookup find_command(std::uint8_t opcode, std::uint16_t service_action);
// What `lu` makes of a lookup: a row it does not offer (kThinOnly on a fully provisioned LU) is
// an unknown opcode, or an unknown service action of a known one.
Lookup offered_by(const LuState& lu, Lookup found);

// SBC-3 §4.17: PREVENT ALLOW MEDIUM REMOVAL with PREVENT 00b, and START STOP UNIT with START 1 and
// POWER CONDITION 0h, are allowed under every persistent reservation; other forms conflict.
bool reservation_exempt_by_cdb(const Cdb& cdb);
// SPC-4 §5.13.1: whether another I_T nexus's persistent reservation stops `cmd` (`row` null for an
// unknown command, which conflicts like a write). Expects LuState::mutex held.
bool persistent_reservation_conflict_locked(const LuState& lu, const OpcodeRow* row, const Command& cmd);

// SPC-4 §5.15.2.4: NOT READY when the LU's target port group is in a state that `row` may not run
// in (alua.cpp). Reads one atomic; takes no lock.
std::optional<Sense> access_state_refusal(const LuState& lu, const OpcodeRow& row);

// Bytes of data-out a CDB asks for; 0 when its length exceeds kMaxTransferBytes (such a
// command fails before it touches data, so nothing should be solicited).
std::uint32_t data_out_bytes(const OpcodeRow& row, const Cdb& cdb, std::uint32_t block_size);

}  // namespace iscsikit::scsi::detail
