// The initiator session's core (RFC 7143 §3.2.2, §4.2.2): login, the task table, sending commands
// within the CmdSN window with immediate, unsolicited and solicited data, and completion.
#include "initiator/session_impl.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "scsi/initiator_cdb.hpp"

namespace iscsikit::initiator {

using iscsi::kReservedTag;

SessionImpl::SessionImpl(asio::any_io_executor executor, Url url, SessionOptions opts)
    : executor_(std::move(executor)), url_(std::move(url)), opts_(std::move(opts)), isid_(random_isid()) {
    if (opts_.initiator_name.empty()) opts_.initiator_name = default_initiator_name();
    paths_.push_back(Path{url_.portal});
    for (const auto& p : opts_.extra_portals)
        if (!(p == url_.portal)) paths_.push_back(Path{p});
    window_.reset(1, 1);
}

SessionImpl::~SessionImpl() {
    if (conn_) conn_->close();
}

LoginRequest SessionImpl::login_request(const Portal& portal) {
    LoginRequest req;
    req.portal = portal;
    req.initiator_name = opts_.initiator_name;
    req.initiator_alias = opts_.initiator_alias;
    req.target_name = url_.target;
    fill_chap(req, url_.user.empty() ? opts_.chap : iscsi::ChapCredentials{url_.user, url_.password}, opts_.mutual_chap,
              opts_.chap_algorithms);
    req.isid = isid_;
    req.tsih = 0;  // §6.3.5: a new session with the old ISID reinstates (closes) the old one
    req.cmd_sn = window_.next();
    req.transport = opts_.transport;
    req.limits.max_recv_data_segment_length = opts_.max_recv_data_segment_length;
    req.limits.max_burst_length = opts_.max_burst_length;
    req.limits.first_burst_length = opts_.first_burst_length;
    req.limits.initial_r2t = false;
    req.limits.immediate_data = true;
    req.limits.allow_header_digest = opts_.header_digest;
    req.limits.allow_data_digest = opts_.data_digest;
    req.deadline = Clock::now() + opts_.login_timeout;
    return req;
}

asio::awaitable<Result<void>> SessionImpl::first_login() {
    std::optional<Error> first_error;
    for (std::size_t i = 0; i < paths_.size(); ++i) {
        auto result = co_await login(executor_, login_request(paths_[i].portal));
        if (result) {
            path_ = i;
            adopt(std::move(*result));
            co_return Result<void>{};
        }
        spdlog::debug("login via {} failed: {}", paths_[i].portal.to_string(), result.error().message);
        paths_[i].failed_until = Clock::now() + opts_.path_retry;
        // The most telling error wins: "target not found" says more than "unreachable".
        if (!first_error ||
            (first_error->kind == ErrorKind::unreachable && result.error().kind != ErrorKind::unreachable))
            first_error = result.error();
    }
    state_ = State::closed;
    co_return tl::unexpected(*first_error);
}

void SessionImpl::start_reconnecting(const std::string& why) {
    state_ = State::reconnecting;
    asio::co_spawn(executor_, reconnect_loop(shared_from_this(), why), asio::detached);
}

std::vector<SessionImpl::Unsent> SessionImpl::take_unsent() {
    std::vector<Unsent> out;
    for (Task* task : waiting_) {
        auto node = tasks_.extract(task->seq);
        out.push_back(Unsent{task->cmd, std::move(node.mapped()->done)});
    }
    waiting_.clear();
    return out;
}

void SessionImpl::adopt(LoginResult result) {
    conn_ = std::move(result.connection);
    params_ = result.params;
    if (!(result.portal == paths_[path_].portal)) paths_[path_].portal = result.portal;  // redirected
    window_.reset(result.exp_cmd_sn, result.max_cmd_sn);
    exp_stat_sn_ = result.exp_stat_sn;
    state_ = State::up;
    draining_ = false;
    ping_itt_.reset();
    logout_itt_.reset();
    conn_->start(*this);
    start_ticker();
    pump();
    if (on_path_change_) on_path_change_();
}

std::uint32_t SessionImpl::next_itt() {
    if (itt_counter_ == kReservedTag) itt_counter_ = 1;
    return itt_counter_++;
}

Task* SessionImpl::task_by_itt(std::uint32_t itt) {
    auto it = by_itt_.find(itt);
    return it == by_itt_.end() ? nullptr : it->second;
}

void SessionImpl::submit(Command cmd, Completed done) {
    auto reject = [&](Error e) {
        asio::post(executor_,
                   [done = std::move(done), e = std::move(e)]() mutable { done(tl::unexpected(std::move(e))); });
    };
    if (state_ == State::closed || state_ == State::logging_out) {
        reject(last_failure_.empty() ? make_error(ErrorKind::closed, "the session is closed")
                                     : make_error(ErrorKind::connection_lost, last_failure_));
        return;
    }
    const bool read = cmd.direction == DataDirection::read, write = cmd.direction == DataDirection::write;
    if ((read && cmd.read_buffer.size() > UINT32_MAX) || (write && cmd.write_data.size() > UINT32_MAX) ||
        (!read && !cmd.read_buffer.empty()) || (!write && !cmd.write_data.empty())) {
        reject(make_error(ErrorKind::invalid_argument, "the command's buffers do not match its data direction"));
        return;
    }
    auto task = make_pooled<Task>();
    task->seq = seq_counter_++;
    task->cmd = cmd;
    task->done = std::move(done);
    if (read) task->data_in = DataInAssembler(cmd.read_buffer);
    waiting_.push_back(task.get());
    tasks_.emplace(task->seq, std::move(task));
    pump();
}

void SessionImpl::pump() {
    if (state_ != State::up || draining_ || !conn_) return;
    while (!waiting_.empty() && window_.open()) {
        Task* task = waiting_.front();
        waiting_.pop_front();
        send_command(*task);
    }
}

void SessionImpl::send_command(Task& task) {
    task.itt = next_itt();
    task.cmd_sn = window_.take();
    task.sent = true;
    task.aborting = false;
    task.data_in.restart();
    task.deadline = Clock::now() + (task.cmd.timeout.count() ? task.cmd.timeout : opts_.command_timeout);
    by_itt_[task.itt] = &task;

    iscsi::Bhs bhs;
    bhs.set_opcode(iscsi::Opcode::scsi_command);
    iscsi::ScsiCommandView v{bhs};
    bhs.set_lun(scsi::encode_lun(task.cmd.lun));
    bhs.set_initiator_task_tag(task.itt);
    v.set_attribute(task.cmd.attribute);
    v.set_cmd_sn(task.cmd_sn);
    v.set_exp_stat_sn(exp_stat_sn_);
    std::memcpy(v.cdb_bytes(), task.cmd.cdb.data(), task.cmd.cdb.size());
    if (task.cmd.direction == DataDirection::write) {
        const auto length = static_cast<std::uint32_t>(task.cmd.write_data.size());
        v.set_write(true);
        v.set_expected_data_transfer_length(length);
        // §11.3.4, §13.13-14: immediate data and unsolicited Data-Out, FirstBurstLength in all.
        const std::uint32_t burst = std::min(length, params_.first_burst_length);
        const std::uint32_t immediate =
            params_.immediate_data ? std::min(burst, params_.target_max_recv_data_segment_length) : 0;
        const std::uint32_t unsolicited = params_.initial_r2t ? immediate : burst;
        bhs.set_final(unsolicited == immediate);
        conn_->send(bhs, task.cmd.write_data.first(immediate));
        if (unsolicited > immediate) send_data_out(task, kReservedTag, immediate, unsolicited - immediate);
    } else {
        bhs.set_final(true);
        if (task.cmd.direction == DataDirection::read) {
            v.set_read(true);
            v.set_expected_data_transfer_length(static_cast<std::uint32_t>(task.cmd.read_buffer.size()));
        }
        conn_->send(bhs);
    }
}

void SessionImpl::send_data_out(Task& task, std::uint32_t ttt, std::uint32_t offset, std::uint32_t length) {
    const std::uint32_t chunk = params_.target_max_recv_data_segment_length;
    const std::uint32_t end = offset + length;
    std::uint32_t data_sn = 0;  // §11.7.5: per R2T (or per unsolicited burst), from 0
    for (std::uint32_t pos = offset; pos < end;) {
        const std::uint32_t n = std::min(chunk, end - pos);
        iscsi::Bhs bhs;
        bhs.set_opcode(iscsi::Opcode::data_out);
        bhs.set_final(pos + n == end);
        bhs.set_lun(scsi::encode_lun(task.cmd.lun));
        bhs.set_initiator_task_tag(task.itt);
        iscsi::DataOutView v{bhs};
        v.set_target_transfer_tag(ttt);
        v.set_exp_stat_sn(exp_stat_sn_);
        v.set_data_sn(data_sn++);
        v.set_buffer_offset(pos);
        conn_->send(bhs, task.cmd.write_data.subspan(pos, n));
        pos += n;
    }
}

void SessionImpl::update_window(std::uint32_t exp_cmd_sn, std::uint32_t max_cmd_sn) {
    if (window_.update(exp_cmd_sn, max_cmd_sn)) pump();
}

void SessionImpl::complete(Task& task, Result<Completion> result) {
    if (task.sent) {
        forget_itt(task);
    } else if (!task.finishing) {
        auto it = std::find(waiting_.begin(), waiting_.end(), &task);
        if (it != waiting_.end()) waiting_.erase(it);
    }
    auto node = tasks_.extract(task.seq);
    if (node.empty()) return;
    Completed done = std::move(node.mapped()->done);
    ++stats_.commands;
    done(std::move(result));
}

void SessionImpl::complete_after_send(Task& task, Result<Completion> result) {
    // The task's Data-Out may still sit in the send queue: its buffer goes back to the caller only
    // once the socket is done with it.
    forget_itt(task);
    task.sent = false;
    task.finishing = true;
    if (!conn_) {
        complete(task, std::move(result));
        return;
    }
    task.outcome = std::move(result);
    conn_->when_sent([weak = weak_from_this(), seq = task.seq] {
        auto self = weak.lock();
        if (!self) return;
        auto t = self->tasks_.find(seq);
        if (t != self->tasks_.end() && t->second->outcome) self->complete(*t->second, std::move(*t->second->outcome));
    });
}

}  // namespace iscsikit::initiator
