#include "target/connection.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <spdlog/spdlog.h>

#include "target/login.hpp"
#include "target/server.hpp"
#include "target/session.hpp"

namespace iscsikit::target {

namespace {

std::unique_ptr<iscsi::ByteTransport> tcp_transport(asio::ip::tcp::socket socket) {
    return std::make_unique<iscsi::TcpTransport>(std::move(socket));
}

asio::ip::tcp::endpoint endpoint_of(const asio::ip::tcp::socket& socket, bool local) {
    std::error_code ec;
    return local ? socket.local_endpoint(ec) : socket.remote_endpoint(ec);
}

}  // namespace

Connection::Connection(Server& server, Reactor& reactor, asio::ip::tcp::socket socket)
    : Connection(server, reactor, nullptr, endpoint_of(socket, true), endpoint_of(socket, false)) {
    channel_ = std::make_shared<iscsi::Channel>(tcp_transport(std::move(socket)));
}

Connection::Connection(Server& server, Reactor& reactor, std::unique_ptr<iscsi::ByteTransport> transport,
                       asio::ip::tcp::endpoint local, asio::ip::tcp::endpoint remote)
    : server_(server), reactor_(reactor), local_(std::move(local)), remote_(std::move(remote)) {
    if (transport) channel_ = std::make_shared<iscsi::Channel>(std::move(transport));
    log_prefix_ = fmt::format("[{}:{}]", remote_.address().to_string(), remote_.port());
}

Connection::~Connection() { channel_->detach(); }

void Connection::start() {
    login_ = std::make_unique<Login>(*this);
    // RFC 7143 §6: a login that does not complete in time is abandoned (Login::run).
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(server_.config().login_timeout_seconds);
    asio::co_spawn(
        reactor_.context(), [self = shared_from_this(), deadline] { return self->login_->run(deadline); },
        asio::detached);
}

void Connection::close(const std::string& why, bool peer_error) { channel_->close({why, peer_error}); }

void Connection::on_closed(const iscsi::CloseReason& reason) {
    if (ended_) return;
    ended_ = true;
    if (reason.peer_error)
        spdlog::warn("{} closing connection: {}", log_prefix_, reason.why);
    else
        spdlog::info("{} closing connection: {}", log_prefix_, reason.why);
    if (session_) session_->connection_closed();
    server_.connection_closed(this);
}

void Connection::enter_full_feature_phase(std::unique_ptr<Session> session) {
    session_ = std::move(session);
    session_->start();
    channel_->start(*this);
}

iscsi::DataDestination Connection::data_destination(const iscsi::Bhs& bhs, std::uint32_t length) {
    return session_ ? session_->data_destination(bhs, length) : iscsi::DataDestination{};
}

Result<void> Connection::on_pdu(const iscsi::ReceivedPdu& pdu) {
    const PduRef ref{pdu.bhs, pdu.ahs, pdu.data};
    if (!pdu.data_digest_ok) {
        // RFC 7143 §7.8: discard the PDU and Reject it with reason "data digest error".
        spdlog::warn("{} data digest mismatch on {} ITT {:#x}", log_prefix_, iscsi::opcode_name(pdu.bhs.opcode()),
                     pdu.bhs.initiator_task_tag());
        session_->data_digest_error(ref);
        return {};
    }
    if (!session_->on_pdu(ref) && !closed())
        return fail(fmt::format("{} ended the session", iscsi::opcode_name(pdu.bhs.opcode())));
    return {};
}

}  // namespace iscsikit::target
