// Task management functions (RFC 7143 §11.5, §11.6; SAM-5 §7) at ErrorRecoveryLevel 0.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "iscsi/serial.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/lun.hpp"
#include "target/server.hpp"
#include "target/session.hpp"
#include "target/task.hpp"

namespace iscsikit::target {

using iscsi::Bhs;
using iscsi::TaskFunction;
using iscsi::TaskResponse;

// RFC 7143 §11.5.1: a TMF acts on every command the initiator sent before it, which for an
// immediate TMF (CmdSN not advanced) includes commands held ahead of a CmdSN gap and those still
// in the gap; SAM-5 §7.2/§7.4/§7.6 for what each function aborts. Those never run and never
// answer; they keep their CmdSN so the window still moves.
void Session::abort_task_set(std::optional<std::uint64_t> lun_field, std::uint32_t tmf_cmd_sn,
                             std::uint32_t except_itt) {
    auto in_scope = [&](std::uint64_t field) { return !lun_field || field == *lun_field; };
    for (auto it = tasks_.begin(); it != tasks_.end();) {
        if (it->first != except_itt && in_scope(it->second->lun_field)) {
            // A running task finishes in the LU but its status is dropped; one not yet running
            // never starts (pump() skips aborted tasks).
            it->second->aborted = true;
            release(*it->second);
            it = tasks_.erase(it);
        } else {
            ++it;
        }
    }
    const AbortFence fence{tmf_cmd_sn, lun_field};
    for (auto& held : held_)
        if (fence.covers(held.bhs)) held.aborted = true;
    // Commands still in the gap [ExpCmdSN, TMF CmdSN) are aborted when they come. A fence is only
    // for CmdSNs the initiator can have used (inside the window it was given), and one per scope
    // and CmdSN, so a peer's TMFs cannot grow the list past the window.
    const bool sent = iscsi::serial_lt(exp_cmd_sn_, tmf_cmd_sn) &&
                      iscsi::serial_in_window(tmf_cmd_sn, exp_cmd_sn_, advertised_max_cmd_sn_ + 1);
    const bool known = std::any_of(abort_fences_.begin(), abort_fences_.end(), [&](const AbortFence& f) {
        return f.below == tmf_cmd_sn && f.lun_field == lun_field;
    });
    if (sent && !known && abort_fences_.size() < kMaxAbortFences) abort_fences_.push_back(fence);
}

void Session::abort_tasks_of(const scsi::LogicalUnit* unit, const scsi::Command* except) {
    for (auto it = tasks_.begin(); it != tasks_.end();) {
        if (it->second->unit == unit && &it->second->command != except) {
            it->second->aborted = true;  // as abort_task_set: a running task's status is dropped
            release(*it->second);
            it = tasks_.erase(it);
        } else {
            ++it;
        }
    }
}

bool Session::AbortFence::covers(const Bhs& bhs) const {
    return bhs.opcode() == iscsi::Opcode::scsi_command && !bhs.immediate() && (!lun_field || bhs.lun() == *lun_field) &&
           iscsi::serial_lt(iscsi::RequestSequenceView{bhs}.cmd_sn(), below);
}

bool Session::fenced(const Bhs& bhs) {
    const bool hit =
        std::any_of(abort_fences_.begin(), abort_fences_.end(), [&](const AbortFence& f) { return f.covers(bhs); });
    // Once ExpCmdSN reaches a fence, every command below it has come.
    std::erase_if(abort_fences_, [this](const AbortFence& f) { return !iscsi::serial_lt(exp_cmd_sn_, f.below); });
    return hit;
}

bool Session::on_task_management(const Bhs& bhs) {
    iscsi::TaskManagementRequestView req{bhs};
    const auto function = req.function();
    const std::uint64_t lun_field = bhs.lun();
    auto response = TaskResponse::complete;
    const scsi::Device* device = setup_.node ? luns()->device : nullptr;
    const std::uint64_t lun = scsi::decode_lun(lun_field).value_or(scsi::kNoLun);
    auto lun_exists = [&] { return device && device->find(lun) != nullptr; };

    switch (function) {
        case TaskFunction::abort_task: {
            auto it = tasks_.find(req.referenced_task_tag());
            if (it != tasks_.end() && it->second->lun_field == lun_field) {
                it->second->aborted = true;
                release(*it->second);
                tasks_.erase(it);
            } else if (auto h = std::find_if(held_.begin(), held_.end(),
                                             [&](const Held& x) {
                                                 return x.bhs.initiator_task_tag() == req.referenced_task_tag() &&
                                                        x.bhs.lun() == lun_field;
                                             });
                       h != held_.end()) {
                // Received ahead of a CmdSN gap: it keeps its CmdSN but never runs.
                h->aborted = true;
            } else if (iscsi::serial_lt(req.ref_cmd_sn(), req.cmd_sn()) &&
                       iscsi::serial_in_window(req.ref_cmd_sn(), exp_cmd_sn_, advertised_max_cmd_sn_)) {
                // RFC 7143 §11.6.1 b): not received yet, RefCmdSN in the window [ExpCmdSN, MaxCmdSN]
                // and below this request's CmdSN: consider that CmdSN received, so the command is a
                // duplicate when it comes.
                const std::uint32_t ref = req.ref_cmd_sn();
                if (ref == exp_cmd_sn_) {
                    ++exp_cmd_sn_;
                    ++max_cmd_sn_;
                    deliver_held();
                } else if (std::none_of(held_.begin(), held_.end(), [ref](const Held& x) {
                               return iscsi::RequestSequenceView{x.bhs}.cmd_sn() == ref;
                           })) {
                    Held stand_in;
                    iscsi::RequestSequenceView{stand_in.bhs}.set_cmd_sn(ref);
                    stand_in.aborted = true;
                    held_.push_back(std::move(stand_in));
                }
            } else {
                // §11.6.1 c): RefCmdSN outside the window (below ExpCmdSN: the task completed).
                response = TaskResponse::task_does_not_exist;
            }
            break;
        }
        case TaskFunction::abort_task_set:
        case TaskFunction::clear_task_set:
            if (!lun_exists()) {
                response = TaskResponse::lun_does_not_exist;
                break;
            }
            abort_task_set(lun_field, req.cmd_sn(), bhs.initiator_task_tag());
            if (function == TaskFunction::clear_task_set) {
                // SAM-5 §7.6: other I_T nexuses learn their commands were cleared.
                if (auto* unit = device->find(lun)) unit->unit_attention_all(0x2f, 0x00, nexus_);
            }
            break;
        case TaskFunction::logical_unit_reset:
            if (!lun_exists()) {
                response = TaskResponse::lun_does_not_exist;
                break;
            }
            abort_task_set(lun_field, req.cmd_sn(), bhs.initiator_task_tag());
            if (auto* unit = device->find(lun)) unit->reset();
            break;
        case TaskFunction::target_warm_reset:
        case TaskFunction::target_cold_reset:
            if (!device) {
                response = TaskResponse::rejected;
                break;
            }
            abort_task_set(std::nullopt, req.cmd_sn(), bhs.initiator_task_tag());
            device->reset(function == TaskFunction::target_cold_reset);
            break;
        case TaskFunction::clear_aca:
            response = TaskResponse::function_unsupported;  // NACA is not supported, so no ACA exists
            break;
        case TaskFunction::task_reassign:
            response = TaskResponse::task_reassignment_unsupported;  // §11.5.1: ErrorRecoveryLevel 0
            break;
        default: response = TaskResponse::rejected; break;
    }
    spdlog::info("{} task management function {} on LUN {:#x}: response {}", connection_.log_prefix(),
                 static_cast<unsigned>(function), lun_field, static_cast<unsigned>(response));

    Bhs rsp;
    rsp.set_opcode(iscsi::Opcode::task_management_response);
    rsp.set_final(true);
    rsp.set_initiator_task_tag(bhs.initiator_task_tag());
    iscsi::TaskManagementResponseView out{rsp};
    out.set_response(static_cast<std::uint8_t>(response));
    fill_window(rsp, true);
    connection_.send(rsp);
    if (function == TaskFunction::target_cold_reset && response == TaskResponse::complete) {
        // RFC 7143 §11.5.1: after a cold reset the target drops all its connections.
        connection_.close_after_send("target cold reset");
        connection_.server().sessions().close_all();
    }
    return true;
}

}  // namespace iscsikit::target
