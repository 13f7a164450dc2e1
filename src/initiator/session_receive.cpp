// What the target sends in full feature phase (RFC 7143 §11): data, status, R2T, NOP-In, TMF
// responses, Reject and asynchronous messages.
#include "initiator/session_impl.hpp"

#include <algorithm>

#include <asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "scsi/sense_decode.hpp"

namespace iscsikit::initiator {

using iscsi::kReservedTag;

Received SessionImpl::on_pdu(const iscsi::ReceivedPdu& pdu) {
    using iscsi::Opcode;
    if (!pdu.data_digest_ok)  // ERL 0 has no SNACK to recover the data: the connection is recovered instead
        return iscsikit::fail(fmt::format("data digest error on {}", iscsi::opcode_name(pdu.bhs.opcode())));
    switch (pdu.bhs.opcode()) {
        case Opcode::data_in: return on_data_in(pdu);
        case Opcode::scsi_response: return on_scsi_response(pdu);
        case Opcode::r2t: return on_r2t(pdu);
        case Opcode::nop_in: return on_nop_in(pdu);
        case Opcode::task_management_response: return on_tmf_response(pdu);
        case Opcode::reject: return on_reject(pdu);
        case Opcode::async_message: return on_async(pdu);
        case Opcode::logout_response: return on_logout_response(pdu);
        case Opcode::text_response: return {};  // we send no Text in full feature phase
        default:
            return iscsikit::fail(fmt::format("unexpected {} from the target", iscsi::opcode_name(pdu.bhs.opcode())));
    }
}

Received SessionImpl::on_logout_response(const iscsi::ReceivedPdu& pdu) {
    iscsi::LogoutResponseView v{pdu.bhs};
    note_stat_sn(v.stat_sn());
    if (logout_itt_ && *logout_itt_ == pdu.bhs.initiator_task_tag()) {
        logout_itt_.reset();
        if (state_ == State::logging_out) {
            if (logout_wait_) logout_wait_->cancel();
        } else {
            connection_failed("logged out at the target's request");
        }
    }
    return {};
}

// A Data-In's data goes straight into the caller's buffer when it is the next piece in order
// (DataInAssembler checks the same again, and refuses what does not fit).
iscsi::DataDestination SessionImpl::data_destination(const iscsi::Bhs& bhs, std::uint32_t length) {
    if (bhs.opcode() != iscsi::Opcode::data_in) return {};
    Task* task = task_by_itt(bhs.initiator_task_tag());
    if (!task) return {};
    iscsi::DataInView v{bhs};
    return {task->data_in.destination(v.data_sn(), v.buffer_offset(), length), {}};
}

Received SessionImpl::on_data_in(const iscsi::ReceivedPdu& pdu) {
    iscsi::DataInView v{pdu.bhs};
    update_window(v.exp_cmd_sn(), v.max_cmd_sn());
    Task* task = task_by_itt(pdu.bhs.initiator_task_tag());
    if (!task) return {};  // a task completed by ABORT TASK: its late data is dropped
    if (auto err = task->data_in.accept(v.data_sn(), v.buffer_offset(), pdu.data); err != DataInError::none) {
        return iscsikit::fail(fmt::format("Data-In for ITT {:#x} (DataSN {}, offset {}, {} bytes, buffer {}): {}",
                                          task->itt, v.data_sn(), v.buffer_offset(), pdu.data.size(),
                                          task->data_in.expected(), data_in_error_name(err)));
    }
    if (v.status_present()) {  // §11.7.4: phase collapse, the status comes with the last data
        note_stat_sn(v.stat_sn());
        finish_status(*task, static_cast<scsi::Status>(v.status()), {}, v.underflow(), v.overflow(),
                      v.residual_count());
    }
    return {};
}

Received SessionImpl::on_scsi_response(const iscsi::ReceivedPdu& pdu) {
    iscsi::ScsiResponseView v{pdu.bhs};
    note_stat_sn(v.stat_sn());
    update_window(v.exp_cmd_sn(), v.max_cmd_sn());
    Task* task = task_by_itt(pdu.bhs.initiator_task_tag());
    if (!task) return {};
    if (v.response() != 0) {  // §11.4.3: the target failed the command outside SCSI
        complete(*task, fail(ErrorKind::scsi_error,
                             fmt::format("the target failed the command (iSCSI response {:#04x})", v.response())));
        return {};
    }
    finish_status(*task, static_cast<scsi::Status>(v.status()), pdu.data, v.underflow(), v.overflow(),
                  v.residual_count());
    return {};
}

void SessionImpl::finish_status(Task& task, scsi::Status status, ConstByteSpan segment, bool underflow, bool overflow,
                                std::uint32_t residual) {
    Completion c;
    c.status = status;
    if (segment.size() >= 2) {  // §11.4.7: SenseLength, then the sense data
        const std::size_t length = std::min<std::size_t>(load_be16(segment.data()), segment.size() - 2);
        const auto* p = reinterpret_cast<const std::uint8_t*>(segment.data()) + 2;
        c.sense.assign(p, p + length);
    }
    if (should_retry(task, status, c.sense)) return;
    c.underflow = underflow;
    c.overflow = overflow;
    c.residual = residual;
    if (task.cmd.direction == DataDirection::read) {
        c.transferred = task.data_in.received();
    } else if (task.cmd.direction == DataDirection::write) {
        c.transferred =
            task.cmd.write_data.size() - (underflow ? std::min<std::size_t>(residual, task.cmd.write_data.size()) : 0);
    }
    complete(task, std::move(c));
}

bool SessionImpl::should_retry(Task& task, scsi::Status status, const std::vector<std::uint8_t>& sense) {
    if (task.retries >= opts_.unit_attention_retries) return false;
    const auto decoded = scsi::decode_sense(sense);
    const bool unit_attention =
        status == scsi::Status::check_condition && decoded && decoded->key == scsi::SenseKey::unit_attention;
    const bool busy = status == scsi::Status::busy || status == scsi::Status::task_set_full;
    if (!unit_attention && !busy) return false;
    if (unit_attention) {
        // SAM-5 5.14: a unit attention (after a reset, a reconnect, a change of parameters) is
        // reported once per I_T nexus; the command itself was not executed, so it is sent again.
        ++stats_.unit_attention_retries;
        spdlog::info("{}: unit attention ({}), re-sending the command", url_.to_string(),
                     scsi::describe_sense(*decoded));
        requeue(task);
        return true;
    }
    // BUSY / TASK SET FULL: back off a little, growing with each retry.
    forget_itt(task);
    task.sent = false;
    ++task.retries;
    auto timer = std::make_shared<asio::steady_timer>(executor_, std::chrono::milliseconds(10 * task.retries));
    timer->async_wait([weak = weak_from_this(), seq = task.seq, timer](std::error_code ec) {
        auto self = weak.lock();
        if (ec || !self) return;
        auto t = self->tasks_.find(seq);
        if (t == self->tasks_.end() || t->second->sent || t->second->finishing) return;
        // A reconnect meanwhile may have queued it already with everything else.
        auto& waiting = self->waiting_;
        if (std::find(waiting.begin(), waiting.end(), t->second.get()) != waiting.end()) return;
        waiting.push_front(t->second.get());
        self->pump();
    });
    return true;
}

void SessionImpl::requeue(Task& task) {
    forget_itt(task);
    task.sent = false;
    ++task.retries;
    waiting_.push_front(&task);
    pump();
}

Received SessionImpl::on_r2t(const iscsi::ReceivedPdu& pdu) {
    iscsi::R2tView v{pdu.bhs};
    update_window(v.exp_cmd_sn(), v.max_cmd_sn());
    Task* task = task_by_itt(pdu.bhs.initiator_task_tag());
    if (!task || task->aborting) return {};
    const std::uint64_t end = std::uint64_t{v.buffer_offset()} + v.desired_data_transfer_length();
    if (task->cmd.direction != DataDirection::write || v.desired_data_transfer_length() == 0 ||
        end > task->cmd.write_data.size()) {
        return iscsikit::fail(fmt::format("R2T for ITT {:#x} asks for bytes {}..{} of a {}-byte write", task->itt,
                                          v.buffer_offset(), end, task->cmd.write_data.size()));
    }
    send_data_out(*task, v.target_transfer_tag(), v.buffer_offset(), v.desired_data_transfer_length());
    return {};
}

Received SessionImpl::on_nop_in(const iscsi::ReceivedPdu& pdu) {
    iscsi::NopInView v{pdu.bhs};
    update_window(v.exp_cmd_sn(), v.max_cmd_sn());
    const std::uint32_t itt = pdu.bhs.initiator_task_tag();
    if (itt != kReservedTag) {  // the answer to our ping
        note_stat_sn(v.stat_sn());
        if (ping_itt_ && *ping_itt_ == itt) ping_itt_.reset();
    }
    if (v.target_transfer_tag() != kReservedTag) {
        // §11.19: the target pings us; answer with its TTT, LUN and data (§11.18).
        ++stats_.target_pings;
        iscsi::Bhs bhs;
        bhs.set_opcode(iscsi::Opcode::nop_out);
        bhs.set_immediate(true);
        bhs.set_final(true);
        bhs.set_lun(pdu.bhs.lun());
        bhs.set_initiator_task_tag(kReservedTag);
        iscsi::NopOutView out{bhs};
        out.set_target_transfer_tag(v.target_transfer_tag());
        out.set_cmd_sn(window_.peek());
        out.set_exp_stat_sn(exp_stat_sn_);
        auto echo = std::make_shared<std::vector<std::byte>>(pdu.data.begin(), pdu.data.end());
        conn_->send(bhs, ConstByteSpan(echo->data(), echo->size()), echo);
    }
    return {};
}

Received SessionImpl::on_tmf_response(const iscsi::ReceivedPdu& pdu) {
    iscsi::TaskManagementResponseView v{pdu.bhs};
    note_stat_sn(v.stat_sn());
    update_window(v.exp_cmd_sn(), v.max_cmd_sn());
    auto it = aborts_.find(pdu.bhs.initiator_task_tag());
    if (it == aborts_.end()) return {};
    const std::uint64_t seq = it->second.seq;
    aborts_.erase(it);
    auto t = tasks_.find(seq);
    if (t == tasks_.end() || !t->second->aborting) return {};  // it completed meanwhile
    Task& task = *t->second;
    const auto response = static_cast<iscsi::TaskResponse>(v.response());
    const auto limit = task.cmd.timeout.count() ? task.cmd.timeout : opts_.command_timeout;
    if (response == iscsi::TaskResponse::complete || response == iscsi::TaskResponse::task_does_not_exist) {
        complete_after_send(task, tl::unexpected(timeout_error(task, limit)));
        return {};
    }
    // The target would not abort it: recover the connection (the timed-out task fails there).
    connection_failed(fmt::format("ABORT TASK refused (TMF response {})", v.response()));
    return {};
}

Received SessionImpl::on_reject(const iscsi::ReceivedPdu& pdu) {
    iscsi::RejectView v{pdu.bhs};
    note_stat_sn(v.stat_sn());
    update_window(v.exp_cmd_sn(), v.max_cmd_sn());
    const auto reason = static_cast<unsigned>(v.reason());
    if (pdu.data.size() < iscsi::kBhsLength) {
        spdlog::warn("{}: the target sent a Reject (reason {:#04x}) without the rejected header", url_.to_string(),
                     reason);
        return {};
    }
    iscsi::Bhs rejected(pdu.data);
    Task* task = task_by_itt(rejected.initiator_task_tag());
    spdlog::warn("{}: the target rejected a {} (reason {:#04x})", url_.to_string(),
                 iscsi::opcode_name(rejected.opcode()), reason);
    if (v.reason() == iscsi::RejectReason::data_digest_error || v.reason() == iscsi::RejectReason::waiting_for_logout) {
        // ERL 0: the data is lost on this connection; recovering it re-issues the command.
        if (task) connection_failed(fmt::format("the target rejected a PDU (reason {:#04x})", reason));
        return {};
    }
    if (task)
        complete(*task, fail(ErrorKind::protocol_error,
                             fmt::format("the target rejected command {:02x}h (Reject reason {:#04x})",
                                         task->cmd.cdb[0], reason)));
    return {};
}

Received SessionImpl::on_async(const iscsi::ReceivedPdu& pdu) {
    iscsi::AsyncMessageView v{pdu.bhs};
    note_stat_sn(v.stat_sn());
    update_window(v.exp_cmd_sn(), v.max_cmd_sn());
    switch (v.async_event()) {
        case iscsi::AsyncEvent::logout_requested:  // §11.9.1: let what is in flight finish, then log out
            spdlog::info("{}: the target asks us to log out; reconnecting after the commands in flight",
                         url_.to_string());
            draining_ = true;
            tick();
            break;
        case iscsi::AsyncEvent::dropping_connection:
        case iscsi::AsyncEvent::dropping_all_connections:
            connection_failed("the target announced it is dropping the connection");
            break;
        default:  // SCSI async events and renegotiation requests need nothing from us
            spdlog::debug("{}: async event {} ignored", url_.to_string(), static_cast<unsigned>(v.async_event()));
            break;
    }
    return {};
}

}  // namespace iscsikit::initiator
