// The SCSI command path of a session: receive the command and its data (immediate, unsolicited,
// solicited by R2T), run it on the logical unit under the task-set rules, return Data-In and
// status with residuals (RFC 7143 §11.3 - §11.8).
#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "iscsi/serial.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/lun.hpp"
#include "target/server.hpp"
#include "target/session.hpp"
#include "target/task.hpp"

namespace iscsikit::target {

using iscsi::Bhs;
using iscsi::Opcode;

namespace {

// All data buffers of one session together stay under this; a command that would pass it gets
// TASK SET FULL (SAM-5 §5.3.1) and the initiator retries, so a peer that sends commands and
// never reads their data cannot grow our memory without bound.
constexpr std::uint64_t kMaxBufferedBytes = 256ull << 20;

// RFC 7143 §11.4.5: the residual compares ExpectedDataTransferLength with what the command
// moves (its data-out, or the data-in the LU produced). Data-In and SCSI Response carry the O and U
// flags and Residual Count alike.
std::uint32_t bytes_moved(const Task& task) {
    return task.write ? task.cdb_out_length : (task.read ? task.command.data_in_length : 0);
}

template <class View>
void set_residual(const View& pdu, std::uint32_t moved, std::uint32_t expected) {
    if (moved > expected) {
        pdu.set_overflow(true);
        pdu.set_residual_count(moved - expected);
    } else if (moved < expected) {
        pdu.set_underflow(true);
        pdu.set_residual_count(expected - moved);
    }
}

scsi::TaskAttribute to_scsi(iscsi::TaskAttribute a) {
    switch (a) {
        case iscsi::TaskAttribute::ordered: return scsi::TaskAttribute::ordered;
        case iscsi::TaskAttribute::head_of_queue: return scsi::TaskAttribute::head_of_queue;
        case iscsi::TaskAttribute::aca: return scsi::TaskAttribute::aca;
        default: return scsi::TaskAttribute::simple;  // untagged is treated as simple (RFC 7143 §11.3.1.1)
    }
}

// ABORTED COMMAND, PROTOCOL SERVICE CRC ERROR: RFC 7143 §11.4.7.2's sense for a damaged or
// out-of-sequence Data-Out.
void set_protocol_crc_error(scsi::Command& command) {
    command.status = scsi::Status::check_condition;
    command.sense = scsi::Sense::make(scsi::SenseKey::aborted_command, 0x47, 0x05);
}

}  // namespace

bool Session::on_scsi_command(const Bhs& bhs, ConstByteSpan data) {
    iscsi::ScsiCommandView cmd{bhs};
    const std::uint32_t itt = bhs.initiator_task_tag();
    if (tasks_.contains(itt)) {
        spdlog::warn("{} SCSI command reuses ITT {:#x} of a task in progress", connection_.log_prefix(), itt);
        reject(bhs, iscsi::RejectReason::task_in_progress);
        return true;
    }
    if (!cmd.write() && !data.empty()) {
        // RFC 7143 §11.3.4: immediate data only with the W bit.
        spdlog::warn("{} immediate data on a command without the W bit", connection_.log_prefix());
        reject(bhs, iscsi::RejectReason::protocol_error);
        return true;
    }
    // No command makes us hold more than the LU accepts in one transfer (scsi::kMaxTransferBytes,
    // which its Block Limits VPD page advertises).
    const std::uint32_t need = std::min(cmd.expected_data_transfer_length(), scsi::kMaxTransferBytes);
    if (buffered_bytes_ + need > kMaxBufferedBytes && buffered_bytes_ > 0) {
        spdlog::warn("{} {} bytes of task buffers in use: TASK SET FULL for ITT {:#x}", connection_.log_prefix(),
                     buffered_bytes_, itt);
        Task full;
        full.itt = itt;
        full.expected_length = cmd.expected_data_transfer_length();
        full.command.status = scsi::Status::task_set_full;
        if (setup_.node && setup_.node->counters)
            setup_.node->counters->task_set_full.fetch_add(1, std::memory_order_relaxed);
        send_scsi_response(full);
        return true;
    }
    auto task = std::allocate_shared<Task>(PoolAllocator<Task>{});
    task->reserved = need;
    buffered_bytes_ += need;
    task->itt = itt;
    task->lun_field = bhs.lun();
    task->cmd_sn = cmd.cmd_sn();
    task->immediate = bhs.immediate();
    task->read = cmd.read();
    task->write = cmd.write();
    task->expected_length = cmd.expected_data_transfer_length();
    auto& sc = task->command;
    // Immediate data received in place (data_destination) becomes the task's buffer.
    if (!data.empty() && data.data() == immediate_->data()) sc.buffer = std::move(*immediate_);
    std::memcpy(sc.cdb.data(), cmd.cdb().data(), sc.cdb.size());
    sc.lun = scsi::decode_lun(bhs.lun()).value_or(scsi::kNoLun);
    sc.nexus = nexus_;
    sc.transport_id = transport_id_;
    sc.attribute = to_scsi(cmd.attribute());
    sc.expected_transfer_length = task->expected_length;
    // Data-In may come straight from the store's memory unless a data digest must read it here.
    sc.mapped_data_in_ok = !params_.data_digest;
    if (setup_.node) {
        task->luns = luns();
        task->unit = task->luns->device->find(sc.lun);
    }
    if (task->unit) {
        // Counted under the target's LUN number, whatever the initiator's map calls it.
        task->counters = task->luns->table->counters_of(task->unit->identity().target_lun);
        task->arrived = std::chrono::steady_clock::now();
    }
    tasks_.emplace(itt, task);

    if (task->write && task->unit) task->cdb_out_length = task->unit->data_out_length(sc.cdb).value_or(0);
    if (task->write && task->expected_length > 0) {
        task->wanted = std::min(task->expected_length, task->cdb_out_length);
        if (task->wanted > scsi::kMaxTransferBytes) task->wanted = 0;  // the LU refuses it; take no data
        // Collect every byte the initiator means to send, keeping only what the CDB writes, so no
        // Data-Out is still in flight when the status goes out (RFC 7143 §11.4.5.1 residuals).
        task->solicit_end = task->expected_length <= scsi::kMaxTransferBytes ? task->expected_length : task->wanted;
        sc.buffer.resize_for_overwrite(task->wanted);  // data_complete waits for every byte of it
        // RFC 7143 §11.3.4 / §13.10 / §13.11: immediate data, then one unsolicited burst when
        // InitialR2T=No, up to FirstBurstLength.
        if (data.size() > task->expected_length) {
            spdlog::warn("{} immediate data ({} bytes) beyond ExpectedDataTransferLength {}", connection_.log_prefix(),
                         data.size(), task->expected_length);
            release(*task);
            tasks_.erase(itt);
            reject(bhs, iscsi::RejectReason::protocol_error);
            return true;
        }
        const auto immediate = static_cast<std::uint32_t>(data.size());
        // memcpy with a null pointer is undefined even for 0 bytes (an empty buffer has none).
        if (const std::size_t n = std::min<std::size_t>(immediate, task->wanted);
            n > 0 && data.data() != sc.buffer.data())
            std::memcpy(sc.buffer.data(), data.data(), n);
        if (!params_.initial_r2t && !bhs.final()) {
            task->first_burst_end = std::min(params_.first_burst_length, task->expected_length);
            task->unsolicited_open = task->first_burst_end > immediate;
        } else {
            task->first_burst_end = immediate;
        }
        task->next_r2t_offset = task->first_burst_end;
        solicit(*task);
        if (!task->unsolicited_open && task->bursts.empty() && task->next_r2t_offset >= task->solicit_end)
            data_complete(task);
    } else {
        data_complete(task);
    }
    return true;
}

// Sends R2Ts for what is still missing, at most MaxOutstandingR2T at a time, each at most
// MaxBurstLength (RFC 7143 §11.8).
void Session::solicit(Task& task) {
    while (task.next_r2t_offset < task.solicit_end && task.bursts.size() < params_.max_outstanding_r2t) {
        Burst burst{next_ttt(), task.next_r2t_offset,
                    std::min(params_.max_burst_length, task.solicit_end - task.next_r2t_offset)};
        task.next_r2t_offset += burst.length;
        Bhs bhs;
        bhs.set_opcode(Opcode::r2t);
        bhs.set_final(true);
        bhs.set_lun(task.lun_field);
        bhs.set_initiator_task_tag(task.itt);
        iscsi::R2tView r2t{bhs};
        r2t.set_target_transfer_tag(burst.ttt);
        fill_window(bhs, false);
        r2t.set_r2t_sn(task.r2t_sn++);
        r2t.set_buffer_offset(burst.offset);
        r2t.set_desired_data_transfer_length(burst.length);
        connection_.send(bhs);
        task.bursts.push_back(burst);
    }
}

// Where a PDU's data goes. A SCSI command's immediate data: the session's staging buffer, which
// the new task adopts as its own (on_scsi_command), sized for the whole transfer so the rest of
// the data joins it in place. A Data-Out's: straight into the task's buffer when on_data_out will
// accept it whole. Anything else lands in the connection's buffer and is judged (and refused)
// there.
iscsi::DataDestination Session::data_destination(const Bhs& bhs, std::uint32_t length) {
    if (bhs.opcode() == Opcode::scsi_command) {
        iscsi::ScsiCommandView cmd{bhs};
        const std::uint32_t expected = cmd.expected_data_transfer_length();
        if (!cmd.write() || length > expected) return {};  // refused by on_scsi_command
        immediate_->reserve(std::min(expected, scsi::kMaxTransferBytes));
        immediate_->resize_for_overwrite(length);
        return {ByteSpan(immediate_->data(), length), immediate_};
    }
    if (bhs.opcode() != Opcode::data_out) return {};
    auto it = tasks_.find(bhs.initiator_task_tag());
    if (it == tasks_.end()) return {};
    const Task& task = *it->second;
    iscsi::DataOutView out{bhs};
    const std::uint32_t offset = out.buffer_offset();
    const std::uint64_t end = std::uint64_t{offset} + length;
    if (task.state != Task::State::receiving || !task.write || end > task.wanted) return {};
    const std::uint32_t ttt = out.target_transfer_tag();
    if (ttt == iscsi::kReservedTag) {
        if (!task.unsolicited_open || end > task.first_burst_end || out.data_sn() != task.unsolicited_data_sn)
            return {};
    } else {
        auto burst =
            std::find_if(task.bursts.begin(), task.bursts.end(), [ttt](const Burst& b) { return b.ttt == ttt; });
        if (burst == task.bursts.end() || offset < burst->offset ||
            end > std::uint64_t{burst->offset} + burst->length || out.data_sn() != burst->next_data_sn)
            return {};
    }
    return {ByteSpan(it->second->command.buffer.data() + offset, length), it->second};
}

bool Session::on_data_out(const PduRef& pdu) {
    iscsi::DataOutView out{pdu.bhs};
    auto it = tasks_.find(pdu.bhs.initiator_task_tag());
    if (it == tasks_.end()) {
        // The task was aborted or failed early; its data still in flight is discarded.
        spdlog::debug("{} Data-Out for unknown ITT {:#x} discarded", connection_.log_prefix(),
                      pdu.bhs.initiator_task_tag());
        return true;
    }
    auto task = it->second;
    if (task->state != Task::State::receiving || !task->write) {
        reject(pdu.bhs, iscsi::RejectReason::protocol_error);
        return true;
    }
    const std::uint32_t offset = out.buffer_offset();
    const auto length = static_cast<std::uint32_t>(pdu.data.size());
    if (std::uint64_t{offset} + length > task->expected_length) {
        // RFC 7143 §11.7.5: data beyond ExpectedDataTransferLength is a protocol error.
        spdlog::warn("{} Data-Out offset {} + {} beyond ExpectedDataTransferLength {}", connection_.log_prefix(),
                     offset, length, task->expected_length);
        reject(pdu.bhs, iscsi::RejectReason::protocol_error);
        return true;
    }
    const std::uint32_t ttt = out.target_transfer_tag();
    if (ttt == iscsi::kReservedTag) {
        if (!task->unsolicited_open || std::uint64_t{offset} + length > task->first_burst_end) {
            spdlog::warn("{} unsolicited Data-Out outside the first burst (offset {}, length {})",
                         connection_.log_prefix(), offset, length);
            reject(pdu.bhs, iscsi::RejectReason::protocol_error);
            return true;
        }
        if (out.data_sn() != task->unsolicited_data_sn++) return data_sequence_error(task, out.data_sn());
        if (pdu.bhs.final()) task->unsolicited_open = false;
    } else {
        auto burst =
            std::find_if(task->bursts.begin(), task->bursts.end(), [ttt](const Burst& b) { return b.ttt == ttt; });
        if (burst == task->bursts.end() || offset < burst->offset ||
            std::uint64_t{offset} + length > std::uint64_t{burst->offset} + burst->length) {
            spdlog::warn("{} Data-Out TTT {:#x} offset {} does not match an outstanding R2T", connection_.log_prefix(),
                         ttt, offset);
            reject(pdu.bhs, iscsi::RejectReason::protocol_error);
            return true;
        }
        if (out.data_sn() != burst->next_data_sn++) return data_sequence_error(task, out.data_sn());
        burst->received += length;
        if (pdu.bhs.final() || burst->received >= burst->length) task->bursts.erase(burst);
    }
    if (offset < task->wanted) {
        const auto n = std::min(length, task->wanted - offset);
        std::byte* into = task->command.buffer.data() + offset;
        if (pdu.data.data() != into) std::memcpy(into, pdu.data.data(), n);  // else data_destination placed it
    }
    solicit(*task);
    if (!task->unsolicited_open && task->bursts.empty() && task->next_r2t_offset >= task->solicit_end)
        data_complete(task);
    return true;
}

// RFC 7143 §7.9 -> §7.8: at ErrorRecoveryLevel 0 a Data-Out out of sequence ends the task with
// CHECK CONDITION, ABORTED COMMAND, PROTOCOL SERVICE CRC ERROR (47h/05h); nothing is written and
// the rest of its data is discarded.
bool Session::data_sequence_error(const std::shared_ptr<Task>& task, std::uint32_t data_sn) {
    spdlog::warn("{} Data-Out for ITT {:#x} has DataSN {} out of sequence: task ends with CHECK CONDITION",
                 connection_.log_prefix(), task->itt, data_sn);
    set_protocol_crc_error(task->command);
    task->state = Task::State::done;
    send_scsi_response(*task);
    forget(*task);
    return true;
}

// RFC 7143 §7.8: a PDU whose data digest failed is discarded and rejected. For a Data-Out at
// ErrorRecoveryLevel 0 (no recovery R2T) the task ends with CHECK CONDITION, PROTOCOL SERVICE CRC
// ERROR once all its data has come; the header still counts for DataSN, offsets and the F bit,
// so a damaged last PDU does not leave the task waiting forever.
void Session::data_digest_error(const PduRef& pdu) {
    free_immediate();  // a damaged command is discarded with its data
    reject(pdu.bhs, iscsi::RejectReason::data_digest_error);
    if (pdu.bhs.opcode() != Opcode::data_out) return;
    auto it = tasks_.find(pdu.bhs.initiator_task_tag());
    if (it == tasks_.end() || it->second->state != Task::State::receiving) return;
    set_protocol_crc_error(it->second->command);
    on_data_out(pdu);
}

void Session::data_complete(const std::shared_ptr<Task>& task) {
    if (task->command.status != scsi::Status::good) {
        // The transport has decided the outcome (a damaged Data-Out): the LU never sees the data.
        task->state = Task::State::done;
        send_scsi_response(*task);
        forget(*task);
        return;
    }
    task->state = Task::State::waiting;
    if (task->command.attribute == scsi::TaskAttribute::head_of_queue) {
        run(task);  // SAM-5 §8.6: head of queue starts at once
        return;
    }
    waiting_.push_back(task);
    pump();
}

// SAM-5 §8.6 task set rules: an ORDERED task waits for every older task and blocks newer ones.
void Session::pump() {
    while (!waiting_.empty() && !closed_) {
        auto& next = waiting_.front();
        if (next->aborted) {
            waiting_.pop_front();
            continue;
        }
        if (ordered_running_ > 0 || (next->command.attribute == scsi::TaskAttribute::ordered && running_ > 0)) {
            ask_for_reclaim();  // in case lent READs are what it waits for
            return;
        }
        auto task = next;
        waiting_.pop_front();
        run(task);
    }
}

void Session::run(const std::shared_ptr<Task>& task) {
    task->state = Task::State::running;
    ++running_;
    if (task->command.attribute == scsi::TaskAttribute::ordered) ++ordered_running_;
    auto done = [this, task, self = connection_.shared_from_this()] {
        if (closed_) return;  // the session went away while the LU worked
        account(*task);
        finish(task);
        if (!task->command.data_in_outside()) return retire(*task);
        if (task->lent) return lend(*task);
        // Data-In that points into the store's memory is read when the channel writes it: until
        // then the task still counts as running, so no ORDERED task (which may write those
        // blocks) starts before this READ's data has left (SAM-5 §8.6).
        connection_.channel().when_sent([this, task, self] {
            if (!closed_) retire(*task);
        });
    };
    if (!setup_.node) {
        task->command.status = scsi::Status::check_condition;
        task->command.sense = scsi::Sense::lun_not_supported();
        done();
        return;
    }
    task->luns->device->execute(task->command, connection_.reactor().io(), std::move(done));
}

// Counts a command the LU has answered in its LUN's shard for this reactor (metrics): no lock,
// no allocation.
void Session::account(const Task& task) {
    if (!task.counters) return;
    const auto& sc = task.command;
    const CommandKind kind = command_kind(sc.cdb[0]);
    std::uint64_t bytes = 0;
    if (sc.status == scsi::Status::good && kind == CommandKind::read)
        bytes = std::min(sc.data_in_length, task.expected_length);  // what Data-In carries
    else if (sc.status == scsi::Status::good && kind == CommandKind::write)
        bytes = task.wanted;  // the data-out the LU wrote
    task.counters->record(connection_.reactor().index(), kind, sc.status == scsi::Status::check_condition, bytes,
                          std::chrono::steady_clock::now() - task.arrived);
}

void Session::retire(const Task& task) {
    stop_counting(task.command.attribute == scsi::TaskAttribute::ordered);
    pump();
}

void Session::stop_counting(bool ordered) {
    --running_;
    if (ordered) --ordered_running_;
}

void Session::lend(const Task& task) {
    // finish() sent the READ's status last: the StatSN just taken.
    lent_.push_back({stat_sn_ - 1, task.command.attribute == scsi::TaskAttribute::ordered});
    pump();  // a task that arrived meanwhile may be waiting: ask at once
}

void Session::reclaim(std::uint32_t below) {
    // An acknowledgement of status not sent yet is not one (RFC 7143 §4.2.2.2).
    if (lent_.empty() || iscsi::serial_gt(below, stat_sn_)) return;
    std::size_t n = 0;
    while (n < lent_.size() && iscsi::serial_lt(lent_[n].stat_sn, below)) {
        stop_counting(lent_[n].ordered);
        ++n;
    }
    if (n == 0) return;
    lent_.erase(lent_.begin(), lent_.begin() + static_cast<std::ptrdiff_t>(n));
    pump();
}

void Session::ask_for_reclaim() {
    if (lent_.empty() || reclaim_ttt_ != iscsi::kReservedTag || closed_) return;
    // RFC 7143 §11.19: a ping (ITT reserved, a TTT to echo) the initiator answers with a NOP-Out,
    // which it can only do after reading everything sent before it.
    reclaim_ttt_ = next_ttt();
    reclaim_below_ = stat_sn_;
    send_ping(reclaim_ttt_);
}

void Session::finish(const std::shared_ptr<Task>& task) {
    task->state = Task::State::done;
    if (task->aborted) {
        forget(*task);
        return;
    }
    auto& sc = task->command;
    if (task->read && sc.data_in_length > 0) {
        const std::uint32_t sent = std::min(sc.data_in_length, task->expected_length);
        if (sent > 0) {
            // Phase collapse (RFC 7143 §11.7.4): status rides in the final Data-In when GOOD.
            const bool collapse = sc.status == scsi::Status::good;
            send_data_in(*task, sent, collapse, task);
            if (collapse) {
                forget(*task);
                return;
            }
        }
    }
    send_scsi_response(*task);
    forget(*task);
}

void Session::send_data_in(Task& task, std::uint32_t length, bool with_status, const std::shared_ptr<Task>& keep) {
    const std::uint32_t segment = params_.initiator_max_recv_data_segment_length;
    const std::uint32_t burst = params_.max_burst_length;
    const auto* base = task.command.data_in().data();
    const FileRange file = task.command.mapped_file;
    // Data-In lent in pieces (cache pages): each PDU gathers the parts of them it covers.
    const auto pieces = task.command.data_in_pieces;
    std::size_t piece = 0, piece_offset = 0;
    std::uint32_t offset = 0;
    while (offset < length) {
        const std::uint32_t in_burst = burst - (offset % burst);
        const std::uint32_t n = std::min({segment, length - offset, in_burst});
        const bool last = offset + n == length;
        Bhs bhs;
        bhs.set_opcode(Opcode::data_in);
        iscsi::DataInView din{bhs};
        // F ends each MaxBurstLength sequence and the last PDU (RFC 7143 §11.7.1).
        bhs.set_final(last || n == in_burst);
        bhs.set_lun(task.lun_field);
        bhs.set_initiator_task_tag(task.itt);
        din.set_target_transfer_tag(iscsi::kReservedTag);
        din.set_data_sn(task.data_sn++);
        din.set_buffer_offset(offset);
        if (last && with_status) {
            din.set_status_present(true);
            din.set_status(static_cast<std::uint8_t>(task.command.status));
            set_residual(din, task.command.data_in_length, task.expected_length);
            fill_window(bhs, true);
        } else {
            stamp_window(bhs);  // §11.7.4: without status, StatSN is reserved
        }
        if (!pieces.empty()) {
            gather_.clear();
            for (std::size_t left = n; left > 0 && piece < pieces.size();) {
                const std::size_t take = std::min(left, pieces[piece].size() - piece_offset);
                gather_.push_back(pieces[piece].subspan(piece_offset, take));
                left -= take;
                piece_offset += take;
                if (piece_offset == pieces[piece].size()) {
                    ++piece;
                    piece_offset = 0;
                }
            }
            connection_.send_pieces(bhs, gather_, keep);
            offset += n;
            continue;
        }
        const FileRange at = file ? FileRange{file.fd, file.offset + offset} : FileRange{};
        if (connection_.send(bhs, ConstByteSpan(base + offset, n), keep, at)) task.lent = true;
        offset += n;
    }
}

void Session::send_scsi_response(Task& task) {
    auto& sc = task.command;
    Bhs bhs;
    bhs.set_opcode(Opcode::scsi_response);
    bhs.set_final(true);
    bhs.set_initiator_task_tag(task.itt);
    iscsi::ScsiResponseView rsp{bhs};
    rsp.set_response(0);  // command completed at target
    rsp.set_status(static_cast<std::uint8_t>(sc.status));
    fill_window(bhs, true);
    rsp.set_exp_data_sn(task.data_sn);
    set_residual(rsp, bytes_moved(task), task.expected_length);
    if (sc.status == scsi::Status::check_condition) {
        // §11.4.7: SenseLength (2 bytes) then the sense data.
        auto sense = sc.sense.encode_fixed();
        std::vector<std::byte> payload(2 + sense.size());
        store_be16(payload.data(), static_cast<std::uint16_t>(sense.size()));
        std::memcpy(payload.data() + 2, sense.data(), sense.size());
        connection_.send_copy(bhs, ConstByteSpan(payload.data(), payload.size()));
    } else {
        connection_.send(bhs);
    }
}

void Session::release(Task& task) {
    buffered_bytes_ -= std::min<std::uint64_t>(buffered_bytes_, task.reserved);
    task.reserved = 0;
}

void Session::forget(Task& task) {
    release(task);
    auto it = tasks_.find(task.itt);
    if (it != tasks_.end() && it->second.get() == &task) tasks_.erase(it);
}

}  // namespace iscsikit::target
