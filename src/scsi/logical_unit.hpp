// A direct-access block device (SBC-3) with the SPC-4 commands every LU answers, on top of a
// backstore. Commands dispatch through one opcode table that also answers REPORT SUPPORTED
// OPERATION CODES (STYLE.md rule 3).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backstore/backstore.hpp"
#include "core/io_engine.hpp"
#include "scsi/command.hpp"
#include "scsi/store_health.hpp"

namespace iscsikit::scsi {

// The largest transfer one command may move, either way: MAXIMUM TRANSFER LENGTH in the Block
// Limits VPD page (SBC-3 §6.5.3) says it in blocks, READ/WRITE/VERIFY enforce it, and the target
// never buffers more data-out for one command.
inline constexpr std::uint32_t kMaxTransferBytes = 8u << 20;

namespace detail {
struct LuState;  // mode pages, unit attentions, reservations, readiness (scsi/lu_state.hpp)
}

// What INQUIRY and the device-identification VPD page say about this LU and the port it is seen
// through.
struct LuIdentity {
    std::string vendor = "ISCSIKIT";       // 8 characters, space padded on the wire
    std::string product = "VIRTUAL-DISK";  // 16
    std::string revision = "0001";         // 4
    std::string serial;                    // unit serial number (VPD 80h); unique per LU
    std::uint64_t naa = 0;                 // NAA IEEE Registered (type 5) identifier, VPD 83h
    std::string target_port_name;          // SCSI name string of the target port, "iqn...,t,0x0001"
    std::uint16_t relative_target_port = 1;
    std::uint16_t target_port_group = 1;
    bool removable = false;       // RMB in INQUIRY; START STOP UNIT may eject and load the medium
    bool thin = false;            // lists the logical block provisioning VPD page (B2h)
    std::string log_name = "LU";  // who this LU is in the daemon's log ("target IQN LUN 0")
    // Its LUN on the target (a per-initiator map may show it under another number).
    std::uint64_t target_lun = 0;
    // The most bytes per second SANITIZE OVERWRITE writes; 0: as fast as the store takes them.
    std::uint64_t sanitize_bytes_per_second = 0;
};

// SPC-4 §6.36.2 table "ASYMMETRIC ACCESS STATE field": the primary target port asymmetric access
// states an LU offers for its target port group (scsi/alua.cpp).
enum class AccessState : std::uint8_t {
    active_optimized = 0x0,
    active_non_optimized = 0x1,
    standby = 0x2,      // SPC-4 §5.15.2.4.4: only the kAluaStandby rows run
    unavailable = 0x3,  // SPC-4 §5.15.2.4.5: only the kAluaUnavailable rows run
};
// "active/optimized", "active/non-optimized", "standby", "unavailable": how management names them.
std::string_view access_state_name(AccessState state);
std::optional<AccessState> parse_access_state(std::string_view name);

// Shared ownership (std::make_shared) lets a sanitize that outlives its command (IMMED) keep the
// unit alive until it ends.
class LogicalUnit : public std::enable_shared_from_this<LogicalUnit> {
public:
    LogicalUnit(LuIdentity identity, std::unique_ptr<backstore::Backstore> store);
    ~LogicalUnit();

    // Executes `cmd` and calls `done` exactly once, on this thread: inline for commands that need no
    // storage, from `io`'s completion otherwise. `cmd` must stay alive until then. Sets status,
    // sense, and for data-in commands buffer/data_in_length (never more than the CDB's
    // allocation or transfer length; the transport trims to its expected length and reports
    // residuals).
    void execute(Command& cmd, IoEngine& io, CommandDone done);

    // Bytes of data-out the CDB asks for (0 for commands without data-out, and for a transfer
    // longer than the Block Limits maximum, which fails before touching data), or nullopt when
    // the LU does not know the command. The transport solicits this much (bounded by its expected
    // transfer length). With fewer bytes than this, writes use the whole blocks that arrived.
    std::optional<std::uint32_t> data_out_length(const std::array<std::uint8_t, 16>& cdb) const;

    // Unit attentions (SAM-5 §5.14, SPC-4 §5.11). Each I_T nexus sees POWER ON, RESET OR BUS DEVICE
    // RESET OCCURRED (29h/00h) on its first command after it first appears.
    void unit_attention_all(std::uint8_t asc, std::uint8_t ascq,
                            std::optional<std::uint64_t> except_nexus = std::nullopt);
    void forget_nexus(std::uint64_t nexus);
    // SPC-4 §5.13.11.4.5 (PREEMPT AND ABORT): the transport aborts, as SAM-5 §5.6 says, every task
    // this unit has from each I_T nexus of `nexuses` but `except` (the PERSISTENT RESERVE OUT
    // itself), then calls `done` once, from any thread. Without one, the unit knows of no task but
    // the one it runs, and aborts nothing. Set before serving.
    using TaskAborter = std::function<void(const LogicalUnit& unit, const std::vector<std::uint64_t>& nexuses,
                                           const Command* except, std::function<void()> done)>;
    void set_task_aborter(TaskAborter aborter);
    // LOGICAL UNIT RESET (SAM-5 §7.7): mode pages back to saved values, prevent-allow and
    // RESERVE(6) cleared, UA 29h/<reset_ascq> for every nexus (03h: BUS DEVICE RESET FUNCTION
    // OCCURRED; Device::reset passes 02h for a warm and 01h for a cold target reset).
    // Every nexus gets the unit attention, the one that asked for the reset included (SAM-5
    // §6.3.3; libiscsi's MultipathIO.Reset checks the issuing path too).
    void reset(std::uint8_t reset_ascq = 0x03);
    // Implicit ALUA (SPC-4 §5.15): the target itself (management) sets the state of this LU's
    // target port group; on a change every I_T nexus gets ASYMMETRIC ACCESS STATE CHANGED.
    void set_access_state(AccessState state);
    AccessState access_state() const;

    std::uint64_t block_count() const;
    std::uint32_t block_size() const;
    const LuIdentity& identity() const { return identity_; }
    backstore::Backstore& store() { return *store_; }
    // Backing-store failures (counted by kind, logged on change of state).
    const StoreHealth& store_health() const;

private:
    LuIdentity identity_;
    std::unique_ptr<backstore::Backstore> store_;
    std::unique_ptr<detail::LuState> state_;  // mode pages, UA queues, prevent-allow, started; guarded inside
};

// The SCSI target device: LUNs by number, REPORT LUNS, and what a command to an absent LUN gets
// (INQUIRY: peripheral qualifier 011b; others: ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED 25h/00h).
class Device {
public:
    // Configure before serving: add() and remove() are not safe against concurrent execute(). A
    // device that changes while it serves is copied, changed and published whole (target/registry.hpp).
    // `read_only`: writes through this map are refused (a per-initiator map's read-only LUN).
    void add(std::uint64_t lun, std::shared_ptr<LogicalUnit> unit, bool read_only = false);
    void remove(std::uint64_t lun);
    LogicalUnit* find(std::uint64_t lun) const;
    std::shared_ptr<LogicalUnit> unit(std::uint64_t lun) const;
    std::vector<std::uint64_t> luns() const;

    void execute(Command& cmd, IoEngine& io, CommandDone done) const;
    // TARGET WARM/COLD RESET: every LU resets (cold: also as if power cycled, UA 29h/02h or 29h/01h).
    void reset(bool cold) const;
    // A unit attention for every I_T nexus on every LU (REPORTED LUNS DATA HAS CHANGED, 3Fh/0Eh,
    // when the LUN inventory changes: SPC-4 §6.33).
    void unit_attention_all(std::uint8_t asc, std::uint8_t ascq) const;

private:
    struct Entry {
        std::shared_ptr<LogicalUnit> unit;
        bool read_only = false;
    };
    std::map<std::uint64_t, Entry> units_;
};

}  // namespace iscsikit::scsi
