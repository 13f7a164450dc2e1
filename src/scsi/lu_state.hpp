// The inside of a LogicalUnit, shared by the files that implement its commands: the state behind
// the mutex, the few flags the data path reads without it, and the helpers every handler uses.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "scsi/cdb.hpp"
#include "scsi/extent_lock.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/mode_pages.hpp"
#include "scsi/transport_id.hpp"

namespace iscsikit::scsi::detail {

// Limits advertised in the Block Limits VPD page and enforced (SBC-3 §6.5.3), beside
// scsi::kMaxTransferBytes (logical_unit.hpp).
inline constexpr std::uint32_t kOptimalTransferBytes = 1u << 20;
inline constexpr std::uint64_t kMaxWriteSameBytes = 64u << 20;
// MAXIMUM WRITE SAME LENGTH is also at most what WRITE SAME(10) can name. libiscsi's
// WriteSame16.Unmap writes 65536 blocks with one WRITE(16) whenever this allows 65536, whatever
// MAXIMUM TRANSFER LENGTH says.
inline constexpr std::uint64_t kMaxWriteSameBlocks = 0xffff;
inline constexpr std::uint32_t kWriteSameChunkBytes = 1u << 20;
inline constexpr std::uint32_t kPhysicalBlockBytes = 4096;  // reported via LBPPBE (not on thin LUs)
// MAXIMUM COMPARE AND WRITE LENGTH (SBC-3 §6.5.3, one byte), beside the data-out it takes: twice
// that many blocks within kMaxTransferBytes (limits in LuState::max_compare_and_write_blocks).
inline constexpr std::uint32_t kMaxCompareAndWriteBlocks = 255;
// Thin provisioning (SBC-3 §4.7): what one UNMAP may deallocate (MAXIMUM UNMAP LBA COUNT is this
// in blocks) and carry (MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT); OPTIMAL UNMAP GRANULARITY is
// kPhysicalBlockBytes, the unit in which file systems give storage back.
inline constexpr std::uint64_t kMaxUnmapBytes = 512u << 20;
inline constexpr std::uint32_t kMaxUnmapDescriptors = 256;
// GET LBA STATUS returns at most this many descriptors, however large the allocation length.
inline constexpr std::uint32_t kMaxLbaStatusDescriptors = 256;
// EXTENDED COPY (SPC-4 §6.4): what one parameter list may hold, as RECEIVE COPY RESULTS
// OPERATING PARAMETERS (§6.18) and the Third-party Copy VPD page (§7.8.17) advertise them.
// Every CSCD descriptor names an LU of ours, so two (a source and a destination) suffice.
inline constexpr std::uint16_t kMaxCscdDescriptors = 2;
inline constexpr std::uint16_t kMaxSegmentDescriptors = 16;
inline constexpr std::uint32_t kMaxDescriptorListBytes = 1024;    // CSCD and segment descriptor lists together
inline constexpr std::uint32_t kMaxCopySegmentBytes = 64u << 20;  // MAXIMUM SEGMENT LENGTH
inline constexpr std::uint32_t kCopyChunkBytes = 1u << 20;        // one read then one write of the copy
// EXTENDED COPY commands that may run at once on one LU (TOTAL CONCURRENT COPIES), and copy
// statuses one I_T nexus keeps for RECEIVE COPY RESULTS (MAXIMUM IDENTIFIED CONCURRENT COPIES).
inline constexpr std::uint16_t kMaxConcurrentCopies = 8;

enum class Readiness : std::uint8_t { ready, stopped, no_medium };

// SBC-4 §4.11: whether a sanitize operation runs, or how the last one ended.
enum class SanitizeState : std::uint8_t {
    idle,               // none runs; the last one succeeded, or its failure was left
    in_progress,        // commands other than INQUIRY, REPORT LUNS, REQUEST SENSE get NOT READY
    failed,             // failed with AUSE 1: EXIT FAILURE MODE leaves the failure
    failed_restricted,  // failed with AUSE 0: only another sanitize that succeeds leaves it
};

// Whether a handler finished inline or will call complete() from a storage callback.
enum class Flow { complete, pending };

struct LuState;
using Handler = Flow (*)(LuState&, Command&, IoEngine&);

// SPC-4 §6.18: what RECEIVE COPY RESULTS with COPY STATUS reports of one EXTENDED COPY command.
struct CopyStatus {
    enum class State : std::uint8_t { in_progress = 0x00, succeeded = 0x01, failed = 0x02 };  // COPY MANAGER STATUS
    std::uint8_t list_id = 0;
    State state = State::in_progress;
    std::uint16_t segments_processed = 0;
    std::uint64_t bytes = 0;  // copied so far
};

// What one I_T nexus has pending at this LU.
struct NexusState {
    static constexpr std::size_t kMaxUnitAttentions = 8;
    std::array<std::pair<std::uint8_t, std::uint8_t>, kMaxUnitAttentions> ua{};  // ASC, ASCQ; oldest first
    std::uint8_t ua_count = 0;
    bool prevent = false;  // PREVENT ALLOW MEDIUM REMOVAL in effect from this nexus
    // EXTENDED COPY commands with a LIST IDENTIFIER, running or ended and not yet reported (SPC-4
    // §6.18), oldest first; at most kMaxConcurrentCopies. Lost with the nexus or an LU reset.
    std::vector<CopyStatus> copies;
    // Its initiator port's TransportID as the transport gave it (Command::transport_id), and the
    // port that names: a registration made for that port before it came (SPEC_I_PT) becomes its.
    std::vector<std::uint8_t> transport_id;
    std::optional<IscsiPortName> port;
};

// SPC-4 §6.16.2 (table "Persistent reservation TYPE field"): the six reservation types.
enum class PrType : std::uint8_t {
    write_exclusive = 0x1,
    exclusive_access = 0x3,
    write_exclusive_registrants_only = 0x5,
    exclusive_access_registrants_only = 0x6,
    write_exclusive_all_registrants = 0x7,
    exclusive_access_all_registrants = 0x8,
};

// SPC-4 §5.13.1: what each type lets through. Registrants only: every registrant has access, one
// I_T nexus holds it; all registrants: every registrant holds it (§5.13.10).
inline bool registrants_only(PrType type) {
    return type == PrType::write_exclusive_registrants_only || type == PrType::exclusive_access_registrants_only;
}
inline bool all_registrants(PrType type) {
    return type == PrType::write_exclusive_all_registrants || type == PrType::exclusive_access_all_registrants;
}
inline bool exclusive_access(PrType type) {
    return type == PrType::exclusive_access || type == PrType::exclusive_access_registrants_only ||
           type == PrType::exclusive_access_all_registrants;
}

// SPC-4 §5.13.7: one I_T nexus's registration with its reservation key.
struct PrRegistration {
    // A registration made for an initiator port that has not reached this LU yet (SPEC_I_PT,
    // REGISTER AND MOVE) has a stand-in nexus id from here up, which no transport gives; its
    // TransportID says which port it waits for (persistent_reserve_ports.cpp).
    static constexpr std::uint64_t kFirstStandIn = std::uint64_t{1} << 63;
    static bool waiting(std::uint64_t nexus) { return nexus >= kFirstStandIn; }
    std::uint64_t nexus = 0;
    std::uint64_t key = 0;
    // The initiator port's TransportID (SPC-4 §7.6.4), for READ FULL STATUS; empty when the
    // transport gave none (Command::transport_id).
    std::vector<std::uint8_t> transport_id;
    // ALL_TG_PT (SPC-4 §6.16.3): made for every target port. The LU has one target port, so
    // this changes only what READ FULL STATUS says.
    bool all_target_ports = false;
};

// SPC-4 §5.13: the persistent reservation state of one logical unit, per I_T nexus and so shared
// by every session and reactor that reaches the LU. Not persisted (APTPL is not supported): a
// restart forgets it, as a power loss does without APTPL (SPC-4 §5.13.4). Guarded by LuState::mutex.
struct PersistentReservations {
    // More registrations than this get INSUFFICIENT REGISTRATION RESOURCES (SPC-4 §5.13.7):
    // registrations outlive their nexus, so they must not grow without bound.
    static constexpr std::size_t kMaxRegistrations = 256;
    struct Reservation {
        std::uint64_t holder = 0;  // the I_T nexus that created it (every registrant holds an all registrants type)
        PrType type = PrType::write_exclusive;
    };

    std::vector<PrRegistration> registrations;  // in order of registration, as READ KEYS lists them
    std::uint32_t generation = 0;               // PRgeneration (SPC-4 §6.15.2)
    std::optional<Reservation> reservation;     // LU_SCOPE is the only scope
    std::uint64_t next_stand_in = PrRegistration::kFirstStandIn;

    PrRegistration* find(std::uint64_t nexus);
    const PrRegistration* find(std::uint64_t nexus) const;
    // SPC-4 §5.13.10: whether `nexus` is a persistent reservation holder.
    bool holds(std::uint64_t nexus) const;
};

// Membership of known nexuses, readable without the lock so that the data path of a quiet LU
// takes no lock shared across reactors. Changed only with LuState::mutex held.
class KnownNexuses {
public:
    bool contains(std::uint64_t nexus) const;
    void insert(std::uint64_t nexus);
    void erase(std::uint64_t nexus);
    void clear();

private:
    static constexpr std::size_t kSlots = 256;  // power of two
    static constexpr std::uint64_t kEmpty = 0;
    static constexpr std::uint64_t kTombstone = ~std::uint64_t{0};
    static std::size_t home(std::uint64_t key) { return (key * 0x9e3779b97f4a7c15ull) >> 56; }
    std::array<std::atomic<std::uint64_t>, kSlots> slots_{};  // nexus + 1
};

struct LuState {
    LuState(const LuIdentity& identity, backstore::Backstore& store);

    const LuIdentity& identity;
    backstore::Backstore& store;
    const std::uint32_t block_size;
    const std::uint8_t lbppb_exponent;  // logical blocks per physical block, as 2^n
    // Who owns this state: a sanitize that outlives its command (IMMED) keeps it alive.
    LogicalUnit* owner = nullptr;
    LogicalUnit::TaskAborter task_aborter;  // PREEMPT AND ABORT's way to the transport's tasks

    std::uint64_t block_count() const { return store.size_bytes() / block_size; }
    std::uint64_t max_write_same_blocks() const {
        return std::min(kMaxWriteSameBytes / block_size, kMaxWriteSameBlocks);
    }
    std::uint32_t max_compare_and_write_blocks() const {
        return std::min(kMaxCompareAndWriteBlocks, kMaxTransferBytes / (2 * block_size));
    }
    bool write_protected() const { return store.read_only() || software_write_protect.load(std::memory_order_relaxed); }

    // Read on the data path without the lock; written with the mutex held.
    // No pending UA anywhere, no RESERVE(6) and no persistent reservation (registrations alone
    // change nothing for the data path).
    std::atomic<bool> quiet{false};
    std::atomic<bool> write_cache{true};
    std::atomic<bool> software_write_protect{false};
    std::atomic<Readiness> readiness{Readiness::ready};
    std::atomic<SanitizeState> sanitize{SanitizeState::idle};  // starts with the mutex held
    std::atomic<std::uint16_t> sanitize_progress{0};           // of 65536 (SPC-4 §4.5.2.4.4)
    // SPC-4 §5.15: the asymmetric access state of identity.target_port_group, the one group of
    // this LU's one target port; every session's commands see it.
    std::atomic<AccessState> access_state{AccessState::active_optimized};
    KnownNexuses known;
    ExtentLocks extents;  // the blocks of atomic commands in flight (extent_lock.hpp)
    StoreHealth health;   // backstore failures: counted, logged on change of state

    // Guarded by mutex, which is never held across backstore I/O.
    std::mutex mutex;
    std::unordered_map<std::uint64_t, NexusState> nexuses;
    unsigned nexuses_with_ua = 0;
    unsigned prevent_count = 0;
    unsigned copies_running = 0;               // EXTENDED COPY commands at work, at most kMaxConcurrentCopies
    std::optional<std::uint64_t> reservation;  // RESERVE(6) holder
    PersistentReservations pr;                 // kept across I_T nexus loss and resets (SPC-4 §5.13.1)
    ModeValues mode = ModeValues::defaults();
    std::uint8_t access_status = 0;  // REPORT TARGET PORT GROUPS STATUS CODE (SPC-4 §6.36.2)

    // unit_attention.cpp; all *_locked members expect the mutex held.
    NexusState& nexus_locked(std::uint64_t nexus);  // a new nexus starts with POWER ON pending
    void queue_ua_locked(NexusState& n, std::uint8_t asc, std::uint8_t ascq);
    std::optional<Sense> take_ua_locked(std::uint64_t nexus);
    void forget_locked(std::uint64_t nexus);
    void update_quiet_locked();
    void apply_mode_locked(const ModeValues& values);
};

// ---- helpers every handler uses (logical_unit.cpp) ----

// CHECK CONDITION with `sense`; no data.
Flow fail(Command& cmd, const Sense& sense);
// GOOD; no data.
Flow good(Command& cmd);
// RESERVATION CONFLICT status (SAM-5 §5.3): no sense, no data.
Flow conflict(Command& cmd);
// Zeroes cmd.buffer to `length` bytes and returns it for the handler to fill.
std::uint8_t* begin_data_in(Command& cmd, std::size_t length);
// GOOD with the first min(length, allocation) bytes of what begin_data_in prepared.
Flow end_data_in(Command& cmd, std::size_t length, std::uint32_t allocation);
// GOOD with the first min(length, allocation) bytes of `data` as data-in.
Flow data_in(Command& cmd, const std::uint8_t* data, std::size_t length, std::uint32_t allocation);
// Runs the completion stored in the command (for handlers that returned Flow::pending).
void complete(Command& cmd);
// Flushes the backstore, then GOOD (or MEDIUM ERROR, WRITE ERROR) and the completion.
Flow flush_and_complete(LuState& lu, Command& cmd, IoEngine& io);
// SBC-3 §4.5: every block of [lba, lba + blocks) exists (lba == capacity allowed when blocks == 0).
bool in_range(const LuState& lu, std::uint64_t lba, std::uint64_t blocks);
// SBC-3 §4.5, §6.5.3: the checks every block command makes before touching data (TRANSFER
// LENGTH within the Block Limits maximum, the extent within the LU).
std::optional<Sense> check_extent(const LuState& lu, const cdb::Extent& e);
// The data-out bytes a write of `blocks` writes. Data-out shorter than the TRANSFER LENGTH (the
// initiator's expected length was smaller): the whole blocks that arrived, and GOOD, so that the
// transport's residual tells the initiator what moved (libiscsi's iSCSIResiduals expects exactly
// this); 0 when none did. nullopt for a partial block, which cannot be written: the caller
// answers INVALID FIELD IN COMMAND INFORMATION UNIT (SPC-4 0Eh/03h).
std::optional<std::size_t> whole_blocks_received(const LuState& lu, const Command& cmd, std::uint32_t blocks);
// The sense for a failed backstore call (`ec` as its IoCallback got it): read_only_file_system and
// no_space_on_device on a write, invalid_argument, else MEDIUM ERROR.
// Counts and reports the failure in `lu.health`.
Sense storage_error(LuState& lu, std::error_code ec, bool write);
// SAM-5: a command that cannot run while the medium is absent or the unit stopped.
std::optional<Sense> not_ready(const LuState& lu);
// sanitize.cpp: NOT READY, SANITIZE IN PROGRESS with its progress while a sanitize runs; MEDIUM
// ERROR, SANITIZE COMMAND FAILED after one failed (SBC-4 §4.11); nullopt otherwise.
std::optional<Sense> sanitize_sense(const LuState& lu);
// DATA PROTECT for a write to a write-protected LU: hardware (27h/00h) or software (27h/02h).
Sense write_protect_sense(const LuState& lu);
// Writes refused for this command: the LU is write-protected, or read-only for its nexus.
inline bool write_protected(const LuState& lu, const Command& cmd) { return cmd.read_only || lu.write_protected(); }
inline Sense write_protect_sense(const LuState& lu, const Command& cmd) {
    return cmd.read_only ? Sense::write_protected() : write_protect_sense(lu);
}

// inquiry.cpp: whether a designation descriptor (SPC-4 §7.8.6.1, its 4-byte header and
// designator) names this LU as the Device Identification VPD page reports it.
bool designates_lu(const LuState& lu, std::span<const std::uint8_t> designation);
// copy_results.cpp: the Third-party Copy VPD page (SPC-4 §7.8.17).
std::vector<std::uint8_t> third_party_copy_vpd(const LuState& lu);
// read_write.cpp: writes `bytes` of the command's buffer from offset `at` to block `lba` (forced
// to the medium with `fua` or the write cache off), then GOOD or the storage error, and complete().
void write_and_complete(LuState& lu, Command& cmd, IoEngine& io, std::uint64_t lba, std::size_t at, std::size_t bytes,
                        bool fua);

// unmap.cpp: deallocates byte ranges of the store one after another (then flushes when the write
// cache is off), and completes `cmd` with GOOD or the storage error. Always Flow::pending.
struct ByteRange {
    std::uint64_t offset;
    std::uint64_t length;
};
Flow deallocate(LuState& lu, Command& cmd, IoEngine& io, std::vector<ByteRange> ranges);

// Appends n bytes (vector::insert from a small array trips GCC 12's -Warray-bounds).
inline void append(std::vector<std::uint8_t>& out, const std::uint8_t* data, std::size_t n) {
    const std::size_t at = out.size();
    out.resize(at + n);
    std::memcpy(out.data() + at, data, n);
}

// report_luns.cpp: REPORT LUNS parameter data for `luns` (SPC-4 §6.33), checking the CDB.
Flow report_luns(Command& cmd, std::span<const std::uint64_t> luns);

// ---- command handlers, by file ----
// spc.cpp
Flow test_unit_ready(LuState&, Command&, IoEngine&);
Flow request_sense(LuState&, Command&, IoEngine&);
Flow start_stop_unit(LuState&, Command&, IoEngine&);
Flow prevent_allow_medium_removal(LuState&, Command&, IoEngine&);
Flow reserve6(LuState&, Command&, IoEngine&);
Flow release6(LuState&, Command&, IoEngine&);
Flow reserve10(LuState&, Command&, IoEngine&);
Flow release10(LuState&, Command&, IoEngine&);
Flow report_luns_single(LuState&, Command&, IoEngine&);
// inquiry.cpp
Flow inquiry(LuState&, Command&, IoEngine&);
// mode.cpp
Flow mode_sense(LuState&, Command&, IoEngine&);
Flow mode_select(LuState&, Command&, IoEngine&);
// report_opcodes.cpp
Flow report_supported_operation_codes(LuState&, Command&, IoEngine&);
// alua.cpp
Flow report_target_port_groups(LuState&, Command&, IoEngine&);
Flow set_target_port_groups(LuState&, Command&, IoEngine&);
// capacity.cpp
Flow read_capacity10(LuState&, Command&, IoEngine&);
Flow read_capacity16(LuState&, Command&, IoEngine&);
Flow read_defect_data(LuState&, Command&, IoEngine&);
// read_write.cpp
Flow read(LuState&, Command&, IoEngine&);
Flow write(LuState&, Command&, IoEngine&);
Flow write_and_verify(LuState&, Command&, IoEngine&);
// verify.cpp
Flow verify(LuState&, Command&, IoEngine&);
// cache.cpp
Flow synchronize_cache(LuState&, Command&, IoEngine&);
Flow pre_fetch(LuState&, Command&, IoEngine&);
// write_same.cpp
Flow write_same(LuState&, Command&, IoEngine&);
// persistent_reserve_in.cpp
Flow persistent_reserve_in(LuState&, Command&, IoEngine&);
// persistent_reserve.cpp
Flow persistent_reserve_out(LuState&, Command&, IoEngine&);
// persistent_reserve_ports.cpp: SPEC_I_PT (SPC-4 §6.16.3). One initiator port a REGISTER names,
// with where its TransportID lies in the parameter list.
struct SpecifiedPort {
    IscsiPortName port;
    std::vector<std::uint8_t> transport_id;
    std::uint16_t offset = 0;
};
// Reads the TransportID list (parameter list bytes 24 on) of a PERSISTENT RESERVE OUT of
// `length` bytes, `data` being what arrived; the sense when something is wrong.
std::optional<Sense> read_specified_ports(std::span<const std::uint8_t> data, std::uint32_t length,
                                          std::vector<SpecifiedPort>& out);
// Registers the unregistered sender and every port of `specified` with `key`, all or none.
Flow register_specified_locked(LuState& lu, Command& cmd, std::uint64_t key, bool all_target_ports,
                               const std::vector<SpecifiedPort>& specified);
// REGISTER AND MOVE (SPC-4 §5.13.8, §6.16.4), its parameter list `data` of `length` bytes.
Flow register_and_move_locked(LuState& lu, Command& cmd, std::span<const std::uint8_t> data, std::uint32_t length);
// A nexus reaches the LU (its first command since it appeared): it keeps its port, and takes a
// registration that waits for that port.
void nexus_arrived_locked(LuState& lu, std::uint64_t nexus, NexusState& state,
                          std::span<const std::uint8_t> transport_id);
// unmap.cpp
Flow unmap(LuState&, Command&, IoEngine&);
// get_lba_status.cpp
Flow get_lba_status(LuState&, Command&, IoEngine&);
// sanitize.cpp
Flow sanitize(LuState&, Command&, IoEngine&);
// extended_copy.cpp
Flow extended_copy(LuState&, Command&, IoEngine&);
// copy_results.cpp
Flow receive_copy_results(LuState&, Command&, IoEngine&);
// atomic_write.cpp
Flow compare_and_write(LuState&, Command&, IoEngine&);
Flow orwrite(LuState&, Command&, IoEngine&);
Flow write_atomic16(LuState&, Command&, IoEngine&);

}  // namespace iscsikit::scsi::detail
