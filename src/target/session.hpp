// A session in its full feature phase (RFC 7143 §4): CmdSN ordering and the command window,
// SCSI tasks (immediate and unsolicited data, R2T, Data-In, status), task management, NOP,
// text (SendTargets) and logout. MaxConnections is 1, so a session lives on its connection's
// reactor and needs no locks.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/steady_timer.hpp>

#include "core/byte_buffer.hpp"
#include "core/pool.hpp"
#include "iscsi/params.hpp"
#include "iscsi/pdu.hpp"
#include "scsi/command.hpp"
#include "target/connection.hpp"
#include "target/registry.hpp"

namespace iscsikit::scsi {
class LogicalUnit;
}

namespace iscsikit::scsi {
class Device;
}

namespace iscsikit::target {

struct TargetNode;
struct SessionCounters;

struct SessionSetup {
    std::shared_ptr<const TargetNode> node;  // null in a discovery session
    iscsi::SessionParams params;
    std::uint16_t tsih = 0;
    std::uint64_t isid = 0;
    std::uint16_t cid = 0;
    std::uint32_t exp_cmd_sn = 0;
    std::uint32_t stat_sn = 0;
};

struct Task;

class Session {
public:
    Session(Connection& connection, SessionSetup setup);
    ~Session();

    void start();
    bool on_pdu(const PduRef& pdu);
    // Where the data of a Data-Out PDU, or the immediate data of a SCSI command, can be
    // received in place (iscsi::ChannelHandler).
    iscsi::DataDestination data_destination(const iscsi::Bhs& bhs, std::uint32_t length);
    void reject(const iscsi::Bhs& bad, iscsi::RejectReason reason);
    // A PDU whose data digest failed (RFC 7143 §7.8): Reject, and for a Data-Out, end its task.
    void data_digest_error(const PduRef& pdu);
    void connection_closed();
    // Async Message "target requests logout" (RFC 7143 §11.9.1, AsyncEvent 1), for shutdown.
    void request_logout(std::uint16_t seconds);
    std::size_t active_tasks() const { return tasks_.size(); }
    // SPC-4 §5.13.11.4.5: another I_T nexus's PREEMPT AND ABORT aborts this session's tasks on
    // `unit` (SAM-5 §5.6), all but `except`. With TAS 0 they end without status.
    void abort_tasks_of(const scsi::LogicalUnit* unit, const scsi::Command* except);

private:
    // CmdSN ordering (RFC 7143 §4.2.2.1, §3.2.2.1)
    bool order_command(const PduRef& pdu);
    bool deliver(const iscsi::Bhs& bhs, ConstByteSpan data);
    void deliver_held();
    void fill_window(iscsi::Bhs& bhs, bool advance_stat_sn);
    void stamp_window(iscsi::Bhs& bhs);

    // SCSI commands: scsi_task.cpp
    bool on_scsi_command(const iscsi::Bhs& bhs, ConstByteSpan data);
    bool on_data_out(const PduRef& pdu);
    bool data_sequence_error(const std::shared_ptr<Task>& task, std::uint32_t data_sn);
    void solicit(Task& task);
    void data_complete(const std::shared_ptr<Task>& task);
    void pump();
    void run(const std::shared_ptr<Task>& task);
    void finish(const std::shared_ptr<Task>& task);
    // A task that ran is off the task set: newer ones it held back may start.
    void retire(const Task& task);
    // One task (ORDERED or not) leaves the running counts.
    void stop_counting(bool ordered);
    // A READ whose Data-In went out as file pages by reference: those pages are read when the
    // initiator reads them, so the READ stays on the task set until the initiator shows it has
    // (SAM-5 §8.6: an ORDERED task may write those blocks): its ExpStatSN passed the READ's
    // StatSN, or it answered a NOP-In sent after the READ's status (reclaim).
    void lend(const Task& task);
    // Retires the lent READs whose status the initiator acknowledged (StatSN below `below`).
    void reclaim(std::uint32_t below);
    // A task waits for lent READs: ask the initiator to show it read them (a NOP-In ping).
    void ask_for_reclaim();
    void send_data_in(Task& task, std::uint32_t length, bool with_status, const std::shared_ptr<Task>& keep);
    void send_scsi_response(Task& task);
    void forget(Task& task);
    void release(Task& task);  // returns its buffer reservation to the budget

    // Task management: tmf.cpp
    bool on_task_management(const iscsi::Bhs& bhs);
    // ABORT TASK SET, CLEAR TASK SET and the resets: every SCSI command of the scope (one LUN
    // field, or all) the initiator sent before the TMF (CmdSN below `tmf_cmd_sn`): running,
    // waiting, held behind a CmdSN gap, or not received yet (abort_fences_).
    void abort_task_set(std::optional<std::uint64_t> lun_field, std::uint32_t tmf_cmd_sn, std::uint32_t except_itt);
    bool fenced(const iscsi::Bhs& bhs);  // a SCSI command an earlier task-set TMF aborted before it came

    // NOP, text, logout: session.cpp
    bool on_nop_out(const iscsi::Bhs& bhs, ConstByteSpan data);
    bool on_text(const iscsi::Bhs& bhs, ConstByteSpan data);
    void release_nexus();
    // This session's LUN snapshot, taken again when the target's LUN table has changed (registry.hpp).
    const std::shared_ptr<const SessionLuns>& luns();
    void stop_being_counted();       // the open-sessions gauge forgets this session (once)
    void account(const Task& task);  // a command the LU answered, into the metrics
    bool on_logout(const iscsi::Bhs& bhs);
    void send_text_chunk(std::uint32_t itt);
    void arm_nop_timer();
    void on_nop_timer();
    void send_ping(std::uint32_t ttt);  // a NOP-In the initiator must answer

    std::uint32_t next_stat_sn() { return stat_sn_++; }
    std::uint32_t next_ttt();
    void free_immediate();  // the staging buffer back to the pool, unless a task adopted it

    Connection& connection_;
    SessionSetup setup_;
    const iscsi::SessionParams& params_;
    std::uint64_t nexus_ = 0;
    // This session's initiator port as a SCSI TransportID (every command carries it, for persistent
    // reservations' READ FULL STATUS); empty in a discovery session.
    std::vector<std::uint8_t> transport_id_;
    std::uint32_t exp_cmd_sn_;
    std::uint32_t max_cmd_sn_;
    std::uint32_t advertised_max_cmd_sn_;  // the MaxCmdSN the initiator last saw
    std::uint32_t stat_sn_;
    std::uint32_t window_;
    std::uint32_t ttt_counter_ = 0;

    struct Held {
        iscsi::Bhs bhs;
        std::vector<std::byte> data;
        bool aborted = false;  // ABORT TASK hit it (or stands in for it): takes its CmdSN, never runs
    };
    std::vector<Held> held_;  // non-immediate commands that arrived ahead of ExpCmdSN
    struct AbortFence {
        std::uint32_t below;                     // the TMF's CmdSN
        std::optional<std::uint64_t> lun_field;  // nullopt: every LUN (target resets)
        // A non-immediate SCSI command of the scope sent before the TMF.
        bool covers(const iscsi::Bhs& bhs) const;
    };
    std::vector<AbortFence> abort_fences_;  // until ExpCmdSN reaches `below`
    static constexpr std::size_t kMaxAbortFences = 64;

    // Tasks, their table nodes and queue blocks come from the reactor's BlockPool: a steady
    // stream of commands allocates nothing (tests/unit/alloc/).
    using TaskPtr = std::shared_ptr<Task>;
    std::unordered_map<std::uint32_t, TaskPtr, std::hash<std::uint32_t>, std::equal_to<>,
                       PoolAllocator<std::pair<const std::uint32_t, TaskPtr>>>
        tasks_;                                            // by ITT
    std::deque<TaskPtr, PoolAllocator<TaskPtr>> waiting_;  // data complete, waiting for the task-set rules
    unsigned running_ = 0;
    std::uint64_t buffered_bytes_ = 0;  // data buffers of live tasks (bounded: kMaxBufferedBytes)
    // A SCSI command's immediate data is received here, before the command is checked and its
    // task exists; the new task then adopts the buffer (no copy). Anything that does not adopt
    // it frees it, so an idle session holds no data buffer.
    std::shared_ptr<ByteBuffer> immediate_ = std::make_shared<ByteBuffer>();
    unsigned ordered_running_ = 0;
    struct Lent {
        std::uint32_t stat_sn;  // of the READ's status
        bool ordered;
    };
    std::vector<ConstByteSpan> gather_;  // send_data_in's parts of lent pieces, one PDU's, reused
    std::vector<Lent> lent_;             // in StatSN order; as long as the most READs in flight, then reused
    std::uint32_t reclaim_ttt_ = iscsi::kReservedTag;  // the NOP-In ping of ask_for_reclaim
    std::uint32_t reclaim_below_ = 0;                  // StatSN when it was sent

    // Text continuation (RFC 7143 §11.10): what is left to send of a long answer.
    std::vector<std::byte> text_out_;
    std::size_t text_out_offset_ = 0;
    std::uint32_t text_itt_ = iscsi::kReservedTag;
    std::uint32_t text_ttt_ = iscsi::kReservedTag;
    std::vector<std::byte> text_in_;                       // request text sent with the C bit
    std::uint32_t text_max_recv_data_segment_length_ = 0;  // declared in the Text exchange under way

    asio::steady_timer nop_timer_;
    std::uint32_t ping_ttt_ = iscsi::kReservedTag;  // outstanding target ping
    std::chrono::steady_clock::time_point ping_sent_;
    bool logging_out_ = false;
    bool closed_ = false;
    bool nexus_released_ = false;  // release_nexus() ran
    std::shared_ptr<const SessionLuns> luns_;
    SessionCounters* counted_ = nullptr;  // the open-sessions gauge this session is counted in, until it closes
};

}  // namespace iscsikit::target
