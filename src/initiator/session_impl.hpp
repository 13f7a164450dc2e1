// Internal to src/initiator/: the state behind a Session on one path (one TCP connection at a
// time, failing over between portals). See session.hpp for the contract.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>

#include <asio/steady_timer.hpp>

#include "initiator/cmdsn_window.hpp"
#include "initiator/connection.hpp"
#include "initiator/data_in.hpp"
#include "initiator/login.hpp"
#include "initiator/session.hpp"
#include "core/callback.hpp"
#include "core/pool.hpp"

namespace iscsikit::initiator {

using Completed = iscsikit::Callback<void(Result<Completion>)>;

struct Task {
    std::uint64_t seq = 0;  // submission order: the order of re-issue after a reconnect
    Command cmd;
    Completed done;
    bool sent = false;
    std::uint32_t itt = 0;
    std::uint32_t cmd_sn = 0;
    DataInAssembler data_in;
    Clock::time_point deadline{};               // while sent
    bool aborting = false;                      // ABORT TASK sent for it
    bool finishing = false;                     // completed, waiting for its data to leave the socket
    std::optional<Result<Completion>> outcome;  // while finishing: what it completes with
    int retries = 0;                            // UNIT ATTENTION / BUSY / TASK SET FULL re-sends
};

// The error of a command that passed its deadline and was aborted (session_recovery.cpp).
Error timeout_error(const Task& task, std::chrono::milliseconds limit);

// What the receive handlers return: an error is a protocol error (the connection is recovered).
using Received = iscsikit::Result<void>;

class SessionImpl : public std::enable_shared_from_this<SessionImpl>, public iscsi::ChannelHandler {
public:
    SessionImpl(asio::any_io_executor executor, Url url, SessionOptions opts);
    ~SessionImpl() override;

    asio::awaitable<Result<void>> first_login();
    // Multipath (round robin): a path whose first login failed keeps trying in the background.
    void start_reconnecting(const std::string& why);
    // Multipath: called when this path's connection is lost (after its unsent work is queued) and
    // when it is back up; the owner moves queued work to healthy paths.
    void set_path_listener(std::function<void()> on_change) { on_path_change_ = std::move(on_change); }
    bool up() const { return state_ == State::up; }
    bool closed() const { return state_ == State::closed; }
    struct Unsent {
        Command cmd;
        Completed done;
    };
    // Takes the commands not sent yet (multipath moves them to another path).
    std::vector<Unsent> take_unsent();
    void submit(Command cmd, Completed done);
    asio::awaitable<void> logout();
    void shutdown();  // fails everything with `closed`, no logout

    iscsi::DataDestination data_destination(const iscsi::Bhs& bhs, std::uint32_t length) override;
    Received on_pdu(const iscsi::ReceivedPdu& pdu) override;
    void on_closed(const iscsi::CloseReason& reason) override;

    const iscsi::SessionParams& params() const { return params_; }
    const SessionStats& stats() const { return stats_; }
    const Url& url() const { return url_; }
    Portal current_portal() const { return paths_[path_].portal; }
    std::size_t outstanding() const { return tasks_.size(); }

private:
    enum class State : std::uint8_t { idle, up, reconnecting, logging_out, closed };
    struct Path {
        Portal portal;
        Clock::time_point failed_until{};
    };

    LoginRequest login_request(const Portal& portal);
    void adopt(LoginResult result);  // a login succeeded: the new connection takes over
    void pump();
    void send_command(Task& task);
    void send_data_out(Task& task, std::uint32_t ttt, std::uint32_t offset, std::uint32_t length);
    void complete(Task& task, Result<Completion> result);
    void complete_after_send(Task& task, Result<Completion> result);
    void connection_failed(const std::string& why);
    asio::awaitable<void> reconnect_loop(std::shared_ptr<SessionImpl> self, std::string why);
    void start_ticker();
    void tick();
    void send_nop_ping();
    void send_logout();
    void abort_task(Task& task);
    std::uint32_t next_itt();
    void note_stat_sn(std::uint32_t stat_sn) {
        if (iscsi::serial_ge(stat_sn, exp_stat_sn_)) exp_stat_sn_ = stat_sn + 1;
    }
    void update_window(std::uint32_t exp_cmd_sn, std::uint32_t max_cmd_sn);

    // Receive handlers (session_receive.cpp).
    Received on_data_in(const iscsi::ReceivedPdu& pdu);
    Received on_scsi_response(const iscsi::ReceivedPdu& pdu);
    Received on_r2t(const iscsi::ReceivedPdu& pdu);
    Received on_nop_in(const iscsi::ReceivedPdu& pdu);
    Received on_tmf_response(const iscsi::ReceivedPdu& pdu);
    Received on_reject(const iscsi::ReceivedPdu& pdu);
    Received on_async(const iscsi::ReceivedPdu& pdu);
    Received on_logout_response(const iscsi::ReceivedPdu& pdu);
    void finish_status(Task& task, scsi::Status status, ConstByteSpan sense_segment, bool underflow, bool overflow,
                       std::uint32_t residual);
    bool should_retry(Task& task, scsi::Status status, const std::vector<std::uint8_t>& sense);
    void requeue(Task& task);
    Task* task_by_itt(std::uint32_t itt);
    // Stops routing PDUs with the task's ITT to it (it completes, or goes back to the queue).
    void forget_itt(Task& task) {
        auto it = by_itt_.find(task.itt);
        if (it != by_itt_.end() && it->second == &task) by_itt_.erase(it);
    }

    asio::any_io_executor executor_;
    Url url_;
    SessionOptions opts_;
    std::vector<Path> paths_;
    std::size_t path_ = 0;
    std::uint64_t isid_;
    iscsi::SessionParams params_;
    State state_ = State::idle;
    std::shared_ptr<Connection> conn_;
    CmdSnWindow window_;
    std::uint32_t exp_stat_sn_ = 0;
    std::uint32_t itt_counter_ = 1;
    std::uint64_t seq_counter_ = 0;
    // Tasks and the nodes that index them come from the thread's BlockPool (core/pool.hpp), so a
    // steady stream of commands allocates next to nothing (tests/unit/alloc/).
    using TaskEntry = std::pair<const std::uint64_t, PooledPtr<Task>>;
    std::map<std::uint64_t, PooledPtr<Task>, std::less<>, PoolAllocator<TaskEntry>> tasks_;  // outstanding, by seq
    std::unordered_map<std::uint32_t, Task*, std::hash<std::uint32_t>, std::equal_to<>,
                       PoolAllocator<std::pair<const std::uint32_t, Task*>>>
        by_itt_;                                       // tasks sent on the current connection
    std::deque<Task*, PoolAllocator<Task*>> waiting_;  // not sent yet, in order
    struct PendingAbort {
        std::uint64_t seq;
        Clock::time_point deadline;
    };
    std::unordered_map<std::uint32_t, PendingAbort> aborts_;  // by the TMF's ITT
    std::optional<std::uint32_t> ping_itt_;
    Clock::time_point ping_sent_{};
    std::unique_ptr<asio::steady_timer> ticker_;
    std::unique_ptr<asio::steady_timer> logout_wait_;
    std::optional<std::uint32_t> logout_itt_;
    bool draining_ = false;  // the target asked for a logout: send nothing new
    std::string last_failure_;
    std::function<void()> on_path_change_;
    SessionStats stats_;
};

}  // namespace iscsikit::initiator
