// LogicalUnit: one dispatcher in front of the opcode table. Every command passes the same gate
// (SAM-5 §5.14 unit attentions, SPC-2 §5.5.1 reservations, SPC-4 §5.15.2.4 asymmetric access
// states, SBC-3 §4.20 readiness) before its handler runs; handlers live in one file per command
// family.
#include "scsi/logical_unit.hpp"

#include <algorithm>
#include <stdexcept>
#include <system_error>

#include "scsi/lu_state.hpp"
#include "scsi/opcodes.hpp"

namespace iscsikit::scsi {
namespace detail {

namespace {

std::uint8_t lbppb_exponent_for(std::uint32_t block_size) {
    std::uint8_t exponent = 0;
    while ((block_size << exponent) < kPhysicalBlockBytes) ++exponent;
    return exponent;
}

}  // namespace

// A thin LU reports one logical block per physical block (LBPPBE 0): it deallocates single
// logical blocks (a partial file-system block is zeroed, which LBPRZ allows). libiscsi 1.19 needs
// it: GetLBAStatus.UnmapSingle checks a descriptor at LBA i + 1 against i + LBPPB, and with
// LBPPB >= 2 CompareAndWrite.InvalidDataOutSize leaves a PDU hook behind (when COMPARE AND WRITE
// is not implemented) that rewrites CDB byte 13 of every later command in the run.
// OPTIMAL UNMAP GRANULARITY still advertises kPhysicalBlockBytes.
LuState::LuState(const LuIdentity& id, backstore::Backstore& s)
    : identity(id),
      store(s),
      block_size(s.block_size()),
      lbppb_exponent(id.thin ? 0 : lbppb_exponent_for(s.block_size())),
      health(id.log_name) {}

Flow fail(Command& cmd, const Sense& sense) {
    cmd.status = Status::check_condition;
    cmd.sense = sense;
    cmd.data_in_length = 0;
    cmd.buffer.clear();
    return Flow::complete;
}

Flow good(Command& cmd) {
    cmd.status = Status::good;
    cmd.data_in_length = 0;
    return Flow::complete;
}

Flow conflict(Command& cmd) {
    cmd.status = Status::reservation_conflict;
    cmd.sense = {};
    cmd.data_in_length = 0;
    cmd.buffer.clear();
    return Flow::complete;
}

std::uint8_t* begin_data_in(Command& cmd, std::size_t length) {
    cmd.buffer.assign(length, std::byte{0});
    return reinterpret_cast<std::uint8_t*>(cmd.buffer.data());
}

Flow end_data_in(Command& cmd, std::size_t length, std::uint32_t allocation) {
    // SPC-4 §4.2.5.6: return no more than the ALLOCATION LENGTH; shorter is not an error.
    const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(length, allocation));
    cmd.buffer.resize(n);
    cmd.data_in_length = n;
    cmd.status = Status::good;
    return Flow::complete;
}

Flow data_in(Command& cmd, const std::uint8_t* data, std::size_t length, std::uint32_t allocation) {
    const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(length, allocation));
    cmd.buffer.resize(n);
    std::copy_n(reinterpret_cast<const std::byte*>(data), n, cmd.buffer.data());
    cmd.data_in_length = n;
    cmd.status = Status::good;
    return Flow::complete;
}

void complete(Command& cmd) {
    // Its blocks first: the completion may end the command's life.
    if (cmd.extent_locks != nullptr) cmd.extent_locks->leave(cmd);
    CommandDone done = std::move(cmd.completion);
    cmd.completion = nullptr;
    done();
}

bool in_range(const LuState& lu, std::uint64_t lba, std::uint64_t blocks) {
    const std::uint64_t capacity = lu.block_count();
    return lba <= capacity && blocks <= capacity - lba;
}

std::optional<Sense> check_extent(const LuState& lu, const cdb::Extent& e) {
    if (std::uint64_t{e.blocks} * lu.block_size > kMaxTransferBytes)
        return Sense::invalid_field_in_cdb(static_cast<std::uint16_t>(e.length_field));
    if (!in_range(lu, e.lba, e.blocks)) return Sense::lba_out_of_range();
    return std::nullopt;
}

std::optional<std::size_t> whole_blocks_received(const LuState& lu, const Command& cmd, std::uint32_t blocks) {
    const std::size_t bytes = std::size_t{blocks} * lu.block_size;
    if (cmd.buffer.size() >= bytes) return bytes;
    if (cmd.buffer.size() % lu.block_size != 0) return std::nullopt;
    return cmd.buffer.size();
}

Sense storage_error(LuState& lu, std::error_code ec, bool write) {
    lu.health.failed(ec, write);
    if (write && ec == std::errc::read_only_file_system) return Sense::write_protected();
    if (write && ec == std::errc::no_space_on_device) return Sense::space_allocation_failed();
    if (ec == std::errc::invalid_argument) return Sense::lba_out_of_range();
    return write ? Sense::write_error() : Sense::unrecovered_read_error();
}

std::optional<Sense> not_ready(const LuState& lu) {
    switch (lu.readiness.load(std::memory_order_relaxed)) {
        case Readiness::ready: return std::nullopt;
        case Readiness::stopped: return Sense::not_ready_initializing_command_required();
        case Readiness::no_medium: return Sense::medium_not_present();
    }
    return std::nullopt;
}

Sense write_protect_sense(const LuState& lu) {
    return lu.store.read_only() ? Sense::write_protected() : Sense::software_write_protected();
}

namespace {

// SBC-4 §4.11: while a sanitize runs, every command but INQUIRY, REPORT LUNS and REQUEST SENSE
// gets NOT READY, SANITIZE IN PROGRESS; after one failed, every command but those and SANITIZE
// gets MEDIUM ERROR, SANITIZE COMMAND FAILED.
std::optional<Sense> sanitize_refusal(const LuState& lu, const OpcodeRow& row) {
    const SanitizeState state = lu.sanitize.load(std::memory_order_acquire);
    if (state == SanitizeState::idle || (row.flags & kRunsWhileSanitizing)) return std::nullopt;
    if (state != SanitizeState::in_progress && (row.flags & kLeavesSanitizeFailure)) return std::nullopt;
    return sanitize_sense(lu);
}

// SAM-5 §5.14, SPC-2 §5.5.1 and SPC-4 §5.13.1: reports a pending unit attention or a reservation
// conflict, and registers a nexus seen for the first time. True when the command may run. A quiet
// LU (no UA, no RESERVE(6), no persistent reservation) costs two atomic loads and no lock.
bool admit(LuState& lu, const OpcodeRow* row, Command& cmd) {
    if (lu.quiet.load(std::memory_order_acquire) && lu.known.contains(cmd.nexus)) return true;

    std::lock_guard lock(lu.mutex);
    const bool arrives = !lu.nexuses.contains(cmd.nexus);
    NexusState& nexus = lu.nexus_locked(cmd.nexus);
    if (arrives) nexus_arrived_locked(lu, cmd.nexus, nexus, cmd.transport_id);
    if (row == nullptr || !(row->flags & kNoUnitAttention)) {
        if (auto ua = lu.take_ua_locked(cmd.nexus)) {
            fail(cmd, *ua);
            return false;
        }
    }
    if (lu.reservation && *lu.reservation != cmd.nexus) {
        const bool allowed = row != nullptr && ((row->flags & kAllowedWhenReserved) ||
                                                // SPC-2 §5.5.1: PREVENT ALLOW with PREVENT 00b does not conflict
                                                (row->opcode == 0x1e && (cmd.cdb[4] & 0x03) == 0));
        if (!allowed) {
            conflict(cmd);
            return false;
        }
    }
    if (persistent_reservation_conflict_locked(lu, row, cmd)) {
        conflict(cmd);
        return false;
    }
    return true;
}

}  // namespace
}  // namespace detail

using namespace detail;

LogicalUnit::LogicalUnit(LuIdentity identity, std::unique_ptr<backstore::Backstore> store)
    : identity_(std::move(identity)), store_(std::move(store)) {
    if (!store_) throw std::invalid_argument("LogicalUnit needs a backstore");
    state_ = std::make_unique<LuState>(identity_, *store_);
    state_->owner = this;
}

LogicalUnit::~LogicalUnit() = default;

std::uint64_t LogicalUnit::block_count() const { return state_->block_count(); }
std::uint32_t LogicalUnit::block_size() const { return state_->block_size; }
const StoreHealth& LogicalUnit::store_health() const { return state_->health; }

namespace {

void run_handler(LuState& lu, const OpcodeRow& row, Command& cmd, IoEngine& io) {
    if (row.handler(lu, cmd, io) == Flow::complete) complete(cmd);
}

// The blocks a kBlocks command reads or writes, for the extent lock: its LBA and length where
// the CDB names them (to the end of the LU when the length is 0, as WRITE SAME and SYNCHRONIZE
// CACHE mean it), the whole LU for UNMAP, SANITIZE and EXTENDED COPY, whose blocks are in their
// parameter data.
LbaRange blocks_of(const Cdb& c) {
    constexpr std::uint64_t kToTheEnd = ~std::uint64_t{0};
    switch (c[0]) {
        case 0x42:  // UNMAP
        case 0x48:  // SANITIZE
        case 0x83:  // EXTENDED COPY
            return {0, kToTheEnd};
        case 0x89:  // COMPARE AND WRITE: NUMBER OF LOGICAL BLOCKS in byte 13
            return {load_be64(&c[2]), c[13]};
        case 0x9c:  // WRITE ATOMIC(16): TRANSFER LENGTH in bytes 12-13
            return {load_be64(&c[2]), load_be16(&c[12])};
        default: {
            const cdb::Extent e = cdb::extent(c);
            return {e.lba, e.blocks != 0 ? e.blocks : kToTheEnd};
        }
    }
}

}  // namespace

void LogicalUnit::execute(Command& cmd, IoEngine& io, CommandDone done) {
    LuState& lu = *state_;
    cmd.status = Status::good;
    cmd.sense = {};
    cmd.data_in_length = 0;

    const Lookup found = offered_by(lu, find_command(cmd.cdb));
    const OpcodeRow* row = found.row;
    // Ahead of unit attentions, which wait for the sanitize to end: a nexus that logs in while
    // one runs learns of it first (libiscsi's Sanitize.Reset checks this after a reconnect).
    if (row != nullptr) {
        if (auto sense = sanitize_refusal(lu, *row)) {
            fail(cmd, *sense);
            return done();
        }
    }
    if (!admit(lu, row, cmd)) return done();

    if (row == nullptr) {
        // SPC-4 §4.2.5.2: unknown opcode; an unknown service action is a field of the CDB.
        fail(cmd, found.opcode_known ? Sense::invalid_field_in_cdb(1, 4) : Sense::invalid_opcode());
        return done();
    }
    // SAM-5 §5.13: we do not support ACA, so NACA set in the CONTROL byte is an error.
    if (cmd.cdb[row->cdb_length - 1] & 0x04) {
        fail(cmd, Sense::invalid_field_in_cdb(static_cast<std::uint16_t>(row->cdb_length - 1), 2));
        return done();
    }
    // SPC-4 §5.15.2.4: a standby or unavailable target port group runs only what its state allows.
    if (auto sense = access_state_refusal(lu, *row)) {
        fail(cmd, *sense);
        return done();
    }
    if (row->flags & kMediaAccess) {
        if (auto sense = not_ready(lu)) {
            fail(cmd, *sense);
            return done();
        }
    }
    cmd.completion = std::move(done);
    if (row->flags & kBlocks) {
        // Atomic commands in flight (none, nearly always: then this is a counter and a flag).
        const bool exclusive = (row->flags & kAtomic) != 0;
        if (!lu.extents.enter(cmd, io, blocks_of(cmd.cdb), exclusive,
                              [l = &lu, r = row, c = &cmd, i = &io] { run_handler(*l, *r, *c, *i); }))
            return;  // it runs when the blocks are free, on this thread
    }
    run_handler(lu, *row, cmd, io);
}

std::optional<std::uint32_t> LogicalUnit::data_out_length(const std::array<std::uint8_t, 16>& cdb) const {
    const Lookup found = offered_by(*state_, find_command(cdb));
    if (found.row == nullptr) return std::nullopt;
    return data_out_bytes(*found.row, cdb, state_->block_size);
}

void LogicalUnit::unit_attention_all(std::uint8_t asc, std::uint8_t ascq, std::optional<std::uint64_t> except_nexus) {
    LuState& lu = *state_;
    std::lock_guard lock(lu.mutex);
    for (auto& [nexus, state] : lu.nexuses)
        if (nexus != except_nexus) lu.queue_ua_locked(state, asc, ascq);
    lu.update_quiet_locked();
}

void LogicalUnit::forget_nexus(std::uint64_t nexus) {
    LuState& lu = *state_;
    std::lock_guard lock(lu.mutex);
    lu.forget_locked(nexus);
    lu.update_quiet_locked();
}

void LogicalUnit::set_task_aborter(TaskAborter aborter) { state_->task_aborter = std::move(aborter); }

void LogicalUnit::reset(std::uint8_t reset_ascq) {
    LuState& lu = *state_;
    std::lock_guard lock(lu.mutex);
    // SAM-5 §6.3.3: a logical unit reset clears reservations, prevents and mode changes.
    lu.reservation.reset();
    lu.prevent_count = 0;
    for (auto& [nexus, state] : lu.nexuses) {
        state.prevent = false;
        state.copies.clear();  // SPC-4 §6.18 (COPY STATUS): a logical unit reset discards copy status
        lu.queue_ua_locked(state, 0x29, reset_ascq);
    }
    lu.apply_mode_locked(ModeValues::defaults());
    lu.update_quiet_locked();
}

}  // namespace iscsikit::scsi
