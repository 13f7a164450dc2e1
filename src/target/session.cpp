#include "target/session.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "iscsi/name.hpp"
#include "iscsi/serial.hpp"
#include "iscsi/text.hpp"
#include "scsi/logical_unit.hpp"
#include "target/discovery.hpp"
#include "target/server.hpp"
#include "target/task.hpp"

namespace iscsikit::target {

using iscsi::Bhs;
using iscsi::Opcode;

namespace {
constexpr std::size_t kMaxRequestText = std::size_t{64} * 1024;

// RFC 7143 §13: the keys an initiator may send in a Text Request in full feature phase, those of
// use "ALL" or "FFPO" that it may send at all.
bool renegotiable_in_full_feature_phase(const iscsi::KeyDef& def) {
    const bool phase = def.phase == iscsi::KeyPhase::any || def.phase == iscsi::KeyPhase::full_feature_only;
    return phase && def.sender != iscsi::KeySender::target;
}
}  // namespace

Session::Session(Connection& connection, SessionSetup setup)
    : connection_(connection),
      setup_(std::move(setup)),
      params_(setup_.params),
      exp_cmd_sn_(setup_.exp_cmd_sn),
      stat_sn_(setup_.stat_sn),
      window_(connection.server().config().max_queued_commands),
      nop_timer_(connection.reactor().context()) {
    max_cmd_sn_ = exp_cmd_sn_ + window_ - 1;
    advertised_max_cmd_sn_ = max_cmd_sn_;  // the final login response said so
    if (setup_.node) {
        nexus_ = connection.server().nexus_id(params_.initiator_name, setup_.isid, setup_.node->iqn);
        transport_id_ = iscsi::initiator_port_transport_id(params_.initiator_name, setup_.isid);
    }
    counted_ = setup_.node ? (setup_.node->counters ? &setup_.node->counters->sessions : nullptr)
                           : &connection.server().counters().discovery;
    if (counted_) {
        counted_->logins.fetch_add(1, std::memory_order_relaxed);
        counted_->open.fetch_add(1, std::memory_order_relaxed);
    }
}

Session::~Session() { stop_being_counted(); }

void Session::stop_being_counted() {
    if (counted_) counted_->open.fetch_sub(1, std::memory_order_relaxed);
    counted_ = nullptr;
}

void Session::start() { arm_nop_timer(); }

void Session::connection_closed() {
    if (closed_) return;
    closed_ = true;
    nop_timer_.cancel();
    for (auto& [itt, task] : tasks_) task->aborted = true;  // running ones drop their status
    tasks_.clear();
    waiting_.clear();
    held_.clear();
    connection_.server().sessions().remove(setup_.tsih);
    release_nexus();
    stop_being_counted();
}

// SAM-5 §6.3.4: the I_T nexus is gone (logout, or TCP loss at ErrorRecoveryLevel 0 with no
// Time2Retain): what it held on each logical unit (RESERVE(6), PREVENT) is released. Once only:
// after a logout the same initiator may already hold the same nexus again in a new session.
void Session::release_nexus() {
    if (nexus_released_) return;
    nexus_released_ = true;
    if (!setup_.node) return;
    const auto& current = luns();
    for (auto lun : current->device->luns())
        if (auto* unit = current->device->find(lun)) unit->forget_nexus(nexus_);
}

// One load per command: the snapshot stays until live management publishes a new LUN table.
const std::shared_ptr<const SessionLuns>& Session::luns() {
    const std::uint64_t generation = setup_.node->generation();
    if (!luns_ || luns_->generation != generation) {
        auto fresh = std::make_shared<SessionLuns>();
        fresh->table = setup_.node->luns();
        fresh->device = &fresh->table->device_for(params_.initiator_name);
        fresh->generation = generation;
        luns_ = std::move(fresh);
    }
    return luns_;
}

// Every status-carrying PDU says where the command window is (RFC 7143 §11.4.7).
void Session::fill_window(Bhs& bhs, bool advance_stat_sn) {
    iscsi::TargetSequenceView{bhs}.set_stat_sn(advance_stat_sn ? next_stat_sn() : stat_sn_);
    stamp_window(bhs);
}

// ExpCmdSN and MaxCmdSN alone, for a target PDU whose StatSN is reserved (Data-In without status).
void Session::stamp_window(Bhs& bhs) {
    iscsi::TargetSequenceView out{bhs};
    out.set_exp_cmd_sn(exp_cmd_sn_);
    out.set_max_cmd_sn(max_cmd_sn_);
    advertised_max_cmd_sn_ = max_cmd_sn_;
}

void Session::free_immediate() {
    if (immediate_->data()) *immediate_ = ByteBuffer{};
}

std::uint32_t Session::next_ttt() {
    if (++ttt_counter_ == iscsi::kReservedTag) ttt_counter_ = 1;
    return ttt_counter_;
}

namespace {
// The initiator PDUs of the full feature phase, which all carry ExpStatSN at bytes 28-31.
bool carries_exp_stat_sn(Opcode op) {
    switch (op) {
        case Opcode::scsi_command:
        case Opcode::data_out:
        case Opcode::nop_out:
        case Opcode::task_management_request:
        case Opcode::text_request:
        case Opcode::logout_request:
        case Opcode::snack_request: return true;
        default: return false;
    }
}
}  // namespace

bool Session::on_pdu(const PduRef& pdu) {
    const Bhs& bhs = pdu.bhs;
    // Every initiator PDU acknowledges the status it has read (ExpStatSN, RFC 7143 §4.2.2.2).
    if (!lent_.empty() && carries_exp_stat_sn(bhs.opcode())) reclaim(iscsi::RequestSequenceView{bhs}.exp_stat_sn());
    switch (bhs.opcode()) {
        case Opcode::data_out: return on_data_out(pdu);
        case Opcode::nop_out:
            // A reply to our ping (ITT reserved) never takes a CmdSN (RFC 7143 §11.18.4).
            if (bhs.initiator_task_tag() == iscsi::kReservedTag) return on_nop_out(bhs, pdu.data);
            return order_command(pdu);
        case Opcode::scsi_command: {
            const bool open = order_command(pdu);
            free_immediate();  // held, refused or ignored: its task did not adopt the data
            return open;
        }
        case Opcode::task_management_request:
        case Opcode::text_request:
        case Opcode::logout_request: return order_command(pdu);
        case Opcode::snack_request:
            // RFC 7143 §11.16: SNACK is for ErrorRecoveryLevel > 0; at 0 it is a protocol error.
            spdlog::warn("{} SNACK at ErrorRecoveryLevel 0", connection_.log_prefix());
            reject(bhs, iscsi::RejectReason::protocol_error);
            return true;
        case Opcode::login_request:
            spdlog::warn("{} Login Request in full feature phase", connection_.log_prefix());
            reject(bhs, iscsi::RejectReason::protocol_error);
            return true;
        default:
            if (iscsi::is_target_opcode(bhs.opcode())) {
                spdlog::warn("{} initiator sent target opcode {}", connection_.log_prefix(),
                             iscsi::opcode_name(bhs.opcode()));
                reject(bhs, iscsi::RejectReason::protocol_error);
            } else {
                spdlog::warn("{} unknown opcode {:#04x}", connection_.log_prefix(),
                             static_cast<unsigned>(bhs.opcode()));
                reject(bhs, iscsi::RejectReason::command_not_supported);
            }
            return true;
    }
}

bool Session::order_command(const PduRef& pdu) {
    const Bhs& bhs = pdu.bhs;
    const std::uint32_t cmd_sn = iscsi::RequestSequenceView{bhs}.cmd_sn();
    if (setup_.params.discovery && bhs.opcode() != Opcode::text_request && bhs.opcode() != Opcode::logout_request &&
        bhs.opcode() != Opcode::nop_out) {
        // RFC 7143 §4.3: a discovery session carries only Text, Logout (and NOP) requests.
        spdlog::warn("{} {} in a discovery session", connection_.log_prefix(), iscsi::opcode_name(bhs.opcode()));
        reject(bhs, iscsi::RejectReason::protocol_error);
        return true;
    }
    if (bhs.immediate()) return deliver(bhs, pdu.data);
    if (cmd_sn == exp_cmd_sn_) {
        ++exp_cmd_sn_;
        ++max_cmd_sn_;
        if (!deliver(bhs, pdu.data)) return false;
        deliver_held();
        return true;
    }
    // The window is the one the initiator was told: a command beyond the last advertised
    // MaxCmdSN is outside it even if the window has grown since (libiscsi's CmdSN tests).
    if (iscsi::serial_in_window(cmd_sn, exp_cmd_sn_, advertised_max_cmd_sn_)) {
        // Arrived ahead of a gap: hold it until the gap fills (bounded by the window).
        for (const auto& h : held_)
            if (iscsi::RequestSequenceView{h.bhs}.cmd_sn() == cmd_sn) return true;  // duplicate CmdSN: drop
        held_.push_back(Held{bhs, std::vector<std::byte>(pdu.data.begin(), pdu.data.end()), false});
        return true;
    }
    // RFC 7143 §3.2.2.1: outside the window (a duplicate or beyond MaxCmdSN) is silently ignored.
    if (setup_.node && setup_.node->counters)
        setup_.node->counters->outside_cmd_window.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("{} {} CmdSN {} outside window [{}, {}]: ignored", connection_.log_prefix(),
                 iscsi::opcode_name(bhs.opcode()), cmd_sn, exp_cmd_sn_, advertised_max_cmd_sn_);
    return true;
}

void Session::deliver_held() {
    bool progress = true;
    while (progress && !held_.empty() && !closed_) {
        progress = false;
        for (auto it = held_.begin(); it != held_.end(); ++it) {
            if (iscsi::RequestSequenceView{it->bhs}.cmd_sn() != exp_cmd_sn_) continue;
            Held h = std::move(*it);
            held_.erase(it);
            ++exp_cmd_sn_;
            ++max_cmd_sn_;
            if (!h.aborted) deliver(h.bhs, ConstByteSpan(h.data.data(), h.data.size()));
            progress = true;
            break;
        }
    }
}

bool Session::deliver(const Bhs& bhs, ConstByteSpan data) {
    if (!abort_fences_.empty() && fenced(bhs)) {
        spdlog::debug("{} ITT {:#x}: aborted by an earlier task management function before it arrived",
                      connection_.log_prefix(), bhs.initiator_task_tag());
        return true;
    }
    switch (bhs.opcode()) {
        case Opcode::scsi_command: return on_scsi_command(bhs, data);
        case Opcode::task_management_request: return on_task_management(bhs);
        case Opcode::text_request: return on_text(bhs, data);
        case Opcode::logout_request: return on_logout(bhs);
        case Opcode::nop_out: return on_nop_out(bhs, data);
        default: return true;
    }
}

void Session::reject(const Bhs& bad, iscsi::RejectReason reason) {
    Bhs bhs;
    bhs.set_opcode(Opcode::reject);
    bhs.set_final(true);
    iscsi::RejectView rej{bhs};
    rej.set_reason(reason);
    bhs.set_initiator_task_tag(iscsi::kReservedTag);
    fill_window(bhs, true);
    // RFC 7143 §11.17.3: the data segment is the complete header of the rejected PDU.
    connection_.send_copy(bhs, bad.span());
}

bool Session::on_nop_out(const Bhs& bhs, ConstByteSpan data) {
    iscsi::NopOutView nop{bhs};
    if (bhs.initiator_task_tag() == iscsi::kReservedTag) {
        if (nop.target_transfer_tag() == ping_ttt_) ping_ttt_ = iscsi::kReservedTag;  // our ping answered
        if (nop.target_transfer_tag() == reclaim_ttt_) {
            // The initiator read everything sent before the ping: the lent pages included.
            reclaim_ttt_ = iscsi::kReservedTag;
            reclaim(reclaim_below_);
        }
        return true;
    }
    // RFC 7143 §11.19: answer a ping with a NOP-In echoing its data. An echo longer than the
    // initiator's MaxRecvDataSegmentLength (§13.12) cannot be sent, and a truncated one would not
    // be an echo: the ping is a protocol error (LIO answers it the same way).
    if (data.size() > params_.initiator_max_recv_data_segment_length) {
        spdlog::warn("{} NOP-Out ping data of {} bytes exceeds the initiator's MaxRecvDataSegmentLength {}",
                     connection_.log_prefix(), data.size(), params_.initiator_max_recv_data_segment_length);
        reject(bhs, iscsi::RejectReason::protocol_error);
        return true;
    }
    Bhs rsp;
    rsp.set_opcode(Opcode::nop_in);
    rsp.set_final(true);
    rsp.set_lun(bhs.lun());
    rsp.set_initiator_task_tag(bhs.initiator_task_tag());
    iscsi::NopInView in{rsp};
    in.set_target_transfer_tag(iscsi::kReservedTag);
    fill_window(rsp, true);
    connection_.send_copy(rsp, data);
    return true;
}

void Session::arm_nop_timer() {
    const auto interval = connection_.server().config().nop_interval_seconds;
    if (interval == 0 || closed_) return;
    nop_timer_.expires_after(std::chrono::seconds(1));
    nop_timer_.async_wait([this, self = connection_.shared_from_this()](std::error_code ec) {
        if (ec || closed_) return;
        on_nop_timer();
        arm_nop_timer();
    });
}

void Session::on_nop_timer() {
    const auto now = std::chrono::steady_clock::now();
    const auto& config = connection_.server().config();
    if (ping_ttt_ != iscsi::kReservedTag) {
        if (connection_.last_receive() > ping_sent_) {
            ping_ttt_ = iscsi::kReservedTag;  // anything received proves the initiator alive
        } else if (now - ping_sent_ >= std::chrono::seconds(config.nop_timeout_seconds)) {
            connection_.close(fmt::format("initiator did not answer a NOP-In within {} s", config.nop_timeout_seconds),
                              true);
        }
        return;
    }
    if (now - connection_.last_receive() < std::chrono::seconds(config.nop_interval_seconds)) return;
    ping_ttt_ = next_ttt();
    ping_sent_ = now;
    send_ping(ping_ttt_);
}

// RFC 7143 §11.19: a target ping has ITT 0xffffffff and a TTT the initiator echoes; it does not
// advance StatSN.
void Session::send_ping(std::uint32_t ttt) {
    Bhs bhs;
    bhs.set_opcode(Opcode::nop_in);
    bhs.set_final(true);
    bhs.set_initiator_task_tag(iscsi::kReservedTag);
    iscsi::NopInView{bhs}.set_target_transfer_tag(ttt);
    fill_window(bhs, false);
    connection_.send(bhs);
}

void Session::request_logout(std::uint16_t seconds) {
    if (closed_ || logging_out_) return;
    Bhs bhs;
    bhs.set_opcode(Opcode::async_message);
    bhs.set_final(true);
    bhs.set_initiator_task_tag(iscsi::kReservedTag);
    iscsi::AsyncMessageView msg{bhs};
    msg.set_async_event(iscsi::AsyncEvent::logout_requested);  // RFC 7143 §11.9.1
    msg.set_parameter3(seconds);
    fill_window(bhs, true);
    connection_.send(bhs);
}

bool Session::on_logout(const Bhs& bhs) {
    iscsi::LogoutRequestView req{bhs};
    Bhs rsp;
    rsp.set_opcode(Opcode::logout_response);
    rsp.set_final(true);
    rsp.set_initiator_task_tag(bhs.initiator_task_tag());
    iscsi::LogoutResponseView out{rsp};
    auto response = iscsi::LogoutResponse::success;
    switch (req.reason()) {
        case iscsi::LogoutReason::close_session: break;
        case iscsi::LogoutReason::close_connection:
            if (req.cid() != setup_.cid) response = iscsi::LogoutResponse::cid_not_found;
            break;
        case iscsi::LogoutReason::remove_connection_for_recovery:
            response = iscsi::LogoutResponse::recovery_not_supported;  // ErrorRecoveryLevel 0
            break;
        default: reject(bhs, iscsi::RejectReason::invalid_pdu_field); return true;
    }
    out.set_response(static_cast<std::uint8_t>(response));
    fill_window(rsp, true);
    // The nexus ends before the initiator hears so: it may log in again the moment the response
    // arrives, and its new session must not find this one's PREVENT or RESERVE (libiscsi's
    // PreventAllow.Logout; at one connection per session, closing it ends the session).
    if (response == iscsi::LogoutResponse::success) release_nexus();
    connection_.send(rsp);
    if (response == iscsi::LogoutResponse::success) {
        logging_out_ = true;
        spdlog::info("{} logged out", connection_.log_prefix());
        connection_.close_after_send("logout");
    }
    return true;
}

bool Session::on_text(const Bhs& bhs, ConstByteSpan data) {
    iscsi::TextRequestView req{bhs};
    const std::uint32_t itt = bhs.initiator_task_tag();
    if (req.target_transfer_tag() != iscsi::kReservedTag) {
        // Continuing a long answer of ours (RFC 7143 §11.10.4).
        if (itt == text_itt_ && req.target_transfer_tag() == text_ttt_) {
            send_text_chunk(itt);
        } else {
            reject(bhs, iscsi::RejectReason::invalid_pdu_field);
        }
        return true;
    }
    if (text_in_.size() + data.size() > kMaxRequestText) {
        text_in_.clear();
        reject(bhs, iscsi::RejectReason::protocol_error);
        return true;
    }
    text_in_.insert(text_in_.end(), data.begin(), data.end());
    if (req.continue_()) {
        // The initiator's text spans PDUs: ask for the rest with an empty response.
        Bhs rsp;
        rsp.set_opcode(Opcode::text_response);
        rsp.set_initiator_task_tag(itt);
        rsp.set_lun(bhs.lun());
        iscsi::TextResponseView out{rsp};
        out.set_target_transfer_tag(next_ttt());
        fill_window(rsp, true);
        connection_.send(rsp);
        return true;
    }
    auto pairs = iscsi::parse_text(ConstByteSpan(text_in_.data(), text_in_.size()));
    text_in_.clear();
    if (!pairs) {
        spdlog::warn("{} malformed text request: {}", connection_.log_prefix(), iscsi::text_error_name(pairs.error()));
        reject(bhs, iscsi::RejectReason::protocol_error);
        return true;
    }
    std::vector<std::byte> out;
    for (const auto& [key, value] : *pairs) {
        const iscsi::KeyDef* def = iscsi::find_key(key);
        if (key == "SendTargets") {
            append_send_targets(connection_.server(), connection_, setup_.node.get(), setup_.params.initiator_name,
                                value, out);
        } else if (def == nullptr) {
            iscsi::append_text(out, key, iscsi::kNotUnderstood);
        } else if (!renegotiable_in_full_feature_phase(*def)) {
            // RFC 7143 §13: a key of the login phase only ("LO", "IO"), or one only the target
            // sends, has no meaning here: the values of the login stay.
            iscsi::append_text(out, key, iscsi::kReject);
        } else if (key == "MaxRecvDataSegmentLength") {
            // RFC 7143 §13.12: declarative, "ALL": the initiator may declare a new limit at any
            // time; nothing is answered to a declaration.
            const auto length = iscsi::parse_numeric_value(value);
            if (!length || *length < def->min || *length > def->max) {
                spdlog::warn("{} MaxRecvDataSegmentLength={} in a Text Request is out of range",
                             connection_.log_prefix(), value);
                iscsi::append_text(out, key, iscsi::kReject);
            } else {
                text_max_recv_data_segment_length_ = static_cast<std::uint32_t>(*length);
            }
        }
        // InitiatorAlias (§13.7) is declarative and informational: taken as said, not answered.
    }
    text_out_ = std::move(out);
    text_out_offset_ = 0;
    text_itt_ = itt;
    send_text_chunk(itt);
    return true;
}

void Session::send_text_chunk(std::uint32_t itt) {
    const std::size_t limit = params_.initiator_max_recv_data_segment_length;
    const std::size_t left = text_out_.size() - text_out_offset_;
    const std::size_t n = std::min(left, limit);
    const bool last = n == left;
    Bhs rsp;
    rsp.set_opcode(Opcode::text_response);
    rsp.set_final(last);
    rsp.set_initiator_task_tag(itt);
    iscsi::TextResponseView out{rsp};
    out.set_continue_(!last);
    text_ttt_ = last ? iscsi::kReservedTag : next_ttt();
    out.set_target_transfer_tag(text_ttt_);
    fill_window(rsp, true);
    connection_.send_copy(rsp, ConstByteSpan(text_out_.data() + text_out_offset_, n));
    text_out_offset_ += n;
    if (last) {
        text_out_.clear();
        text_out_offset_ = 0;
        text_itt_ = iscsi::kReservedTag;
        // A limit declared in this exchange holds for the PDUs after its last response.
        if (text_max_recv_data_segment_length_ != 0) {
            spdlog::info("{} the initiator's MaxRecvDataSegmentLength is now {} (was {})", connection_.log_prefix(),
                         text_max_recv_data_segment_length_, setup_.params.initiator_max_recv_data_segment_length);
            setup_.params.initiator_max_recv_data_segment_length = text_max_recv_data_segment_length_;
            text_max_recv_data_segment_length_ = 0;
        }
    }
}

}  // namespace iscsikit::target
