#include "target/connection.hpp"


#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "iscsi/frame.hpp"
#include "target/login.hpp"
#include "target/server.hpp"
#include "target/session.hpp"

namespace iscsikit::target {

namespace {
constexpr std::size_t kInitialRxCapacity = 64 * 1024;
using asio::experimental::as_tuple;
}  // namespace


Connection::Connection(Server& server, Reactor& reactor, asio::ip::tcp::socket socket)
    : server_(server), reactor_(reactor), socket_(std::move(socket)), login_timer_(reactor.context()), rx_(kInitialRxCapacity) {
    std::error_code ec;
    local_ = socket_.local_endpoint(ec);
    remote_ = socket_.remote_endpoint(ec);
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    log_prefix_ = fmt::format("[{}:{}]", remote_.address().to_string(), remote_.port());
    last_receive_ = std::chrono::steady_clock::now();
}

Connection::~Connection() = default;

void Connection::start() {
    login_ = std::make_unique<Login>(*this);
    // RFC 7143 §6: a login that does not complete in time is abandoned.
    login_timer_.expires_after(std::chrono::seconds(server_.config().login_timeout_seconds));
    login_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec && !self->session_) self->close("login did not complete in time", true);
    });
    asio::co_spawn(reactor_.context(), [self = shared_from_this()] { return self->receive_loop(); }, asio::detached);
}

void Connection::close(const std::string& why, bool peer_error) {
    if (closed_) return;
    closed_ = true;
    if (peer_error)
        spdlog::warn("{} closing connection: {}", log_prefix_, why);
    else
        spdlog::info("{} closing connection: {}", log_prefix_, why);
    login_timer_.cancel();
    std::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    if (session_) session_->connection_closed();
    server_.connection_closed(this);
}

void Connection::close_after_send(const std::string& why) {
    close_when_sent_ = true;
    close_reason_ = why;
    if (!writing_ && pending_.empty()) close(why);
}

void Connection::enter_full_feature_phase(std::unique_ptr<Session> session) {
    login_timer_.cancel();
    session_ = std::move(session);
    session_->start();
}

asio::awaitable<void> Connection::receive_loop() {
    auto self = shared_from_this();
    while (!closed_) {
        auto space = rx_.space();
        auto [ec, n] = co_await socket_.async_read_some(asio::buffer(space.data(), space.size()),
                                                        as_tuple(asio::use_awaitable));
        if (ec || n == 0) {
            if (!closed_) close(ec == asio::error::eof || !ec ? "peer closed the connection" : ec.message());
            co_return;
        }
        rx_.commit(n);
        last_receive_ = std::chrono::steady_clock::now();
        if (!process_received()) co_return;
    }
}

bool Connection::process_received() {
    const iscsi::FrameLimits limits{max_recv_data_segment_length_, header_digest_, data_digest_};
    while (!closed_) {
        auto next = rx_.next(limits);
        if (!next) {
            if (next.error() == iscsi::FrameError::header_digest_mismatch) {
                // RFC 7143 §7.8: a header digest error means the PDU boundaries are lost (ERL 0).
                close("header digest mismatch", true);
            } else {
                // RFC 7143 §11.2.1.3: a data segment beyond MaxRecvDataSegmentLength is a protocol
                // error; the length cannot be trusted to resynchronise, so the connection ends.
                close(fmt::format("a PDU declares a data segment longer than our limit {}", limits.max_data_segment_length),
                      true);
            }
            return false;
        }
        if (!*next) break;
        const iscsi::ReceivedPdu& pdu = **next;
        if (!pdu.data_digest_ok) {
            // RFC 7143 §7.8: discard the PDU and Reject it with reason "data digest error".
            spdlog::warn("{} data digest mismatch on {} ITT {:#x}", log_prefix_, iscsi::opcode_name(pdu.bhs.opcode()),
                         pdu.bhs.initiator_task_tag());
            if (session_) session_->data_digest_error(PduRef{pdu.bhs, pdu.ahs, pdu.data});
            continue;
        }
        if (!dispatch(PduRef{pdu.bhs, pdu.ahs, pdu.data})) return false;
    }
    return !closed_;
}

bool Connection::dispatch(const PduRef& pdu) {
    if (session_) return session_->on_pdu(pdu);
    if (login_) return login_->on_pdu(pdu);
    return false;
}

void Connection::send_copy(const iscsi::Bhs& bhs, ConstByteSpan data) {
    if (data.empty()) return send(bhs);
    auto owned = std::make_shared<std::vector<std::byte>>(data.begin(), data.end());
    ConstByteSpan view(owned->data(), owned->size());
    send(bhs, view, std::move(owned));
}

void Connection::send(const iscsi::Bhs& header, ConstByteSpan data, std::shared_ptr<const void> keep) {
    if (closed_) return;
    pending_.add(header, data, header_digest_, data_digest_, std::move(keep));
    schedule_flush();
}

void Connection::schedule_flush() {
    if (writing_ || flush_scheduled_) return;
    flush_scheduled_ = true;
    asio::post(reactor_.context(), [self = shared_from_this()] {
        self->flush_scheduled_ = false;
        self->flush();
    });
}

void Connection::flush() {
    if (closed_ || writing_) return;
    if (pending_.empty()) {
        if (close_when_sent_) close(close_reason_);
        return;
    }
    std::swap(pending_, in_flight_);
    writing_ = true;
    std::vector<asio::const_buffer> iov;
    for (auto span : in_flight_.buffers()) iov.emplace_back(span.data(), span.size());
    asio::async_write(socket_, iov, [self = shared_from_this()](std::error_code ec, std::size_t) {
        self->writing_ = false;
        self->in_flight_.clear();
        if (ec) {
            self->close("send failed: " + ec.message());
            return;
        }
        if (!self->pending_.empty())
            self->flush();
        else if (self->close_when_sent_)
            self->close(self->close_reason_);
    });
}

}  // namespace iscsikit::target
