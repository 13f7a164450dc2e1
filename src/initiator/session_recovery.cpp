// Keeping the session alive and recovering it (RFC 7143 §6.3.5, §7.1): keepalive pings, ABORT
// TASK for commands past their deadline, reconnect with re-issue, logout and shutdown.
#include "initiator/session_impl.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "scsi/initiator_cdb.hpp"

namespace iscsikit::initiator {

using asio::use_awaitable;
using asio::experimental::as_tuple;
using iscsi::kReservedTag;

namespace {

constexpr auto kTickPeriod = std::chrono::milliseconds(200);
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

void SessionImpl::send_nop_ping() {
    const std::uint32_t itt = next_itt();
    iscsi::Bhs bhs;
    bhs.set_opcode(iscsi::Opcode::nop_out);
    bhs.set_immediate(true);
    bhs.set_final(true);
    bhs.set_initiator_task_tag(itt);
    iscsi::NopOutView v{bhs};
    v.set_target_transfer_tag(kReservedTag);
    v.set_cmd_sn(window_.peek());
    v.set_exp_stat_sn(exp_stat_sn_);
    conn_->send(bhs);
    ping_itt_ = itt;
    ping_sent_ = Clock::now();
}

void SessionImpl::abort_task(Task& task) {
    task.aborting = true;
    ++stats_.aborts;
    const std::uint32_t itt = next_itt();
    spdlog::warn("{}: command {:02x}h (ITT {:#x}) on LUN {} did not complete within {:g} s; sending ABORT TASK",
                 url_.to_string(), task.cmd.cdb[0], task.itt, task.cmd.lun,
                 seconds(task.cmd.timeout.count() ? task.cmd.timeout : opts_.command_timeout));
    iscsi::Bhs bhs;
    bhs.set_opcode(iscsi::Opcode::task_management_request);
    bhs.set_immediate(true);
    bhs.set_lun(scsi::encode_lun(task.cmd.lun));
    bhs.set_initiator_task_tag(itt);
    iscsi::TaskManagementRequestView v{bhs};
    v.set_function(iscsi::TaskFunction::abort_task);
    v.set_referenced_task_tag(task.itt);
    v.set_cmd_sn(window_.peek());
    v.set_exp_stat_sn(exp_stat_sn_);
    v.set_ref_cmd_sn(task.cmd_sn);
    v.set_exp_data_sn(task.data_in.next_data_sn());
    conn_->send(bhs);
    aborts_[itt] = PendingAbort{task.seq, Clock::now() + opts_.abort_timeout};
}

Error timeout_error(const Task& task, std::chrono::milliseconds limit) {
    return make_error(ErrorKind::timeout,
                      fmt::format("command {:02x}h on LUN {} timed out after {:g} s and was aborted", task.cmd.cdb[0],
                                  task.cmd.lun, seconds(limit)));
}

void SessionImpl::on_closed(const iscsi::CloseReason& reason) { connection_failed(reason.why); }

void SessionImpl::connection_failed(const std::string& why) {
    if (state_ == State::logging_out) {
        if (logout_wait_) logout_wait_->cancel();
        return;
    }
    if (state_ != State::up) return;
    const Portal portal = paths_[path_].portal;
    spdlog::info("connection to {} lost: {}; reconnecting", portal.to_string(), why);
    if (conn_) conn_->close();  // the socket touches no caller buffer from here on
    conn_.reset();
    state_ = State::reconnecting;
    draining_ = false;
    ping_itt_.reset();
    aborts_.clear();
    by_itt_.clear();
    paths_[path_].failed_until = Clock::now() + opts_.path_retry;
    // Every task not finished goes back to the queue in submission order; the ones being aborted
    // fail with their timeout.
    std::vector<std::uint64_t> timed_out;
    waiting_.clear();
    for (auto& [seq, task] : tasks_) {
        if (task->aborting || task->finishing) {
            timed_out.push_back(seq);
            continue;
        }
        task->sent = false;
        waiting_.push_back(task.get());
    }
    for (auto seq : timed_out) {
        auto t = tasks_.find(seq);
        if (t == tasks_.end()) continue;
        t->second->sent = false;
        t->second->finishing = true;  // not in waiting_
        const auto limit = t->second->cmd.timeout.count() ? t->second->cmd.timeout : opts_.command_timeout;
        complete(*t->second, tl::unexpected(timeout_error(*t->second, limit)));
    }
    asio::co_spawn(executor_, reconnect_loop(shared_from_this(), why), asio::detached);
    if (on_path_change_) on_path_change_();
}

asio::awaitable<void> SessionImpl::reconnect_loop(std::shared_ptr<SessionImpl> keep_alive, std::string why) {
    (void)keep_alive;  // the loop owns the session while it runs
    const auto started = Clock::now();
    auto backoff = kFirstBackoff;
    asio::steady_timer timer(executor_);
    std::string last_error = why;
    while (state_ == State::reconnecting) {
        if (Clock::now() - started > opts_.reconnect_timeout) {
            last_failure_ =
                fmt::format("connection to {} lost ({}) and not re-established within {:g} s (last error: {})",
                            paths_[path_].portal.to_string(), why, seconds(opts_.reconnect_timeout), last_error);
            spdlog::info("{}", last_failure_);  // the caller reports it
            state_ = State::closed;
            while (!tasks_.empty()) complete(*tasks_.begin()->second, fail(ErrorKind::connection_lost, last_failure_));
            co_return;
        }
        timer.expires_after(backoff);
        co_await timer.async_wait(as_tuple(use_awaitable));
        if (state_ != State::reconnecting) co_return;
        // Failover: a portal that failed recently is passed over while another one is healthy.
        const auto now = Clock::now();
        for (std::size_t i = 0; i < paths_.size(); ++i) {
            const std::size_t candidate = (path_ + i) % paths_.size();
            if (paths_[candidate].failed_until <= now) {
                path_ = candidate;
                break;
            }
        }
        auto result = co_await login(executor_, login_request(paths_[path_].portal));
        if (state_ != State::reconnecting) {
            if (result) result->connection->close();
            co_return;
        }
        if (result) {
            ++stats_.reconnects;
            stats_.reissued += waiting_.size();
            spdlog::info("reconnected to {} after {:.1f} s; re-issuing {} command(s)", paths_[path_].portal.to_string(),
                         seconds(Clock::now() - started), waiting_.size());
            adopt(std::move(*result));
            co_return;
        }
        last_error = result.error().message;
        spdlog::info("reconnect to {} failed: {}", paths_[path_].portal.to_string(), last_error);
        paths_[path_].failed_until = Clock::now() + opts_.path_retry;
        if (paths_.size() > 1) path_ = (path_ + 1) % paths_.size();
        backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
    }
}

void SessionImpl::start_ticker() {
    if (ticker_) return;
    ticker_ = std::make_unique<asio::steady_timer>(executor_);
    struct Loop {
        std::weak_ptr<SessionImpl> weak;
        void operator()(std::error_code ec) const {
            auto self = weak.lock();
            if (ec || !self || self->state_ == State::closed) return;
            self->tick();
            self->ticker_->expires_after(kTickPeriod);
            self->ticker_->async_wait(Loop{weak});
        }
    };
    ticker_->expires_after(kTickPeriod);
    ticker_->async_wait(Loop{weak_from_this()});
}

void SessionImpl::tick() {
    if (state_ != State::up || !conn_) return;
    const auto now = Clock::now();
    for (auto& [itt, task] : by_itt_)
        if (!task->aborting && now > task->deadline) abort_task(*task);
    for (const auto& [itt, abort] : aborts_) {
        if (now > abort.deadline) {
            connection_failed(fmt::format("ABORT TASK unanswered within {:g} s", seconds(opts_.abort_timeout)));
            return;
        }
    }
    if (ping_itt_ && now - ping_sent_ > opts_.nop_timeout) {
        connection_failed(fmt::format("no answer to NOP-Out within {:g} s", seconds(opts_.nop_timeout)));
        return;
    }
    if (!ping_itt_ && opts_.nop_interval.count() > 0 && now - conn_->last_receive() > opts_.nop_interval)
        send_nop_ping();
    // §11.14: the target asked for a logout; its answer leads to a reconnect (on_pdu).
    if (draining_ && by_itt_.empty() && !logout_itt_) send_logout();
}

void SessionImpl::send_logout() {
    logout_itt_ = next_itt();
    iscsi::Bhs bhs;
    bhs.set_opcode(iscsi::Opcode::logout_request);
    bhs.set_immediate(true);
    bhs.set_final(true);
    bhs.set_initiator_task_tag(*logout_itt_);
    iscsi::LogoutRequestView v{bhs};
    v.set_reason(iscsi::LogoutReason::close_session);
    v.set_cmd_sn(window_.peek());
    v.set_exp_stat_sn(exp_stat_sn_);
    conn_->send(bhs);
}

asio::awaitable<void> SessionImpl::logout() {
    auto self = shared_from_this();
    asio::steady_timer timer(executor_);
    // Let the commands in flight finish (they are the caller's; a reconnect may still be going on).
    while (!tasks_.empty() && (state_ == State::up || state_ == State::reconnecting)) {
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(as_tuple(use_awaitable));
    }
    if (state_ == State::up && conn_) {
        state_ = State::logging_out;
        send_logout();
        logout_wait_ = std::make_unique<asio::steady_timer>(executor_, Clock::now() + opts_.abort_timeout);
        co_await logout_wait_->async_wait(as_tuple(use_awaitable));
    }
    shutdown();
}

void SessionImpl::shutdown() {
    state_ = State::closed;
    if (conn_) conn_->close();
    conn_.reset();
    if (ticker_) ticker_->cancel();
    if (logout_wait_) logout_wait_->cancel();
    by_itt_.clear();
    waiting_.clear();
    std::vector<Completed> pending;
    for (auto& [seq, task] : tasks_) pending.push_back(std::move(task->done));
    tasks_.clear();
    for (auto& done : pending)
        asio::post(executor_, [done = std::move(done)]() mutable {
            done(fail(ErrorKind::closed, "the session was closed with the command outstanding"));
        });
}

}  // namespace iscsikit::initiator
