// One connection of a target: the PDU channel (iscsi/channel.hpp) over its transport, the login
// phase, then the session's full feature phase. Lives on one reactor for its whole life; every
// member runs on that thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <asio/ip/tcp.hpp>

#include "iscsi/channel.hpp"
#include "iscsi/pdu.hpp"
#include "core/reactor.hpp"

namespace iscsikit::target {

class Server;
class Login;
class Session;

// A received PDU as handlers see it: views into the receive buffer, valid only during the call.
struct PduRef {
    const iscsi::Bhs& bhs;
    ConstByteSpan ahs;
    ConstByteSpan data;
};

class Connection : public std::enable_shared_from_this<Connection>, private iscsi::ChannelHandler {
public:
    Connection(Server& server, Reactor& reactor, asio::ip::tcp::socket socket);
    // Over any transport (tests: one end of an in-memory pipe); the endpoints are for logs and
    // SendTargets.
    Connection(Server& server, Reactor& reactor, std::unique_ptr<iscsi::ByteTransport> transport,
               asio::ip::tcp::endpoint local, asio::ip::tcp::endpoint remote);
    ~Connection() override;

    void start();
    // Closes the transport and ends the session's work on this connection; idempotent. `why`
    // goes to the log (warn when the peer misbehaved, info for orderly ends).
    void close(const std::string& why, bool peer_error = false);
    bool closed() const { return channel_->closed(); }

    // Queues one PDU. `data` must stay valid until sent: either it is copied (send_copy) or
    // `keep` owns it. Everything queued in one reactor turn goes out in one gathered write.
    // `file`: see Channel::send; true when the data goes by page reference.
    bool send(const iscsi::Bhs& bhs, ConstByteSpan data = {}, std::shared_ptr<const void> keep = {},
              FileRange file = {}) {
        return channel_->send(bhs, data, std::move(keep), file);
    }
    void send_copy(const iscsi::Bhs& bhs, ConstByteSpan data) { channel_->send_copy(bhs, data); }
    void send_pieces(const iscsi::Bhs& bhs, std::span<const ConstByteSpan> pieces, std::shared_ptr<const void> keep) {
        channel_->send_pieces(bhs, pieces, std::move(keep));
    }
    // Closes once everything queued so far is on the wire (logout, login failure).
    void close_after_send(const std::string& why) { channel_->close_after_send({why}); }

    // Digests and receive limit, set when login completes (during login: none, 8192 bytes).
    void set_limits(const iscsi::FrameLimits& limits) { channel_->set_limits(limits); }
    iscsi::Channel& channel() { return *channel_; }

    Server& server() { return server_; }
    Reactor& reactor() { return reactor_; }
    const std::string& log_prefix() const { return log_prefix_; }
    void set_log_prefix(std::string prefix) { log_prefix_ = std::move(prefix); }
    const asio::ip::tcp::endpoint& local_endpoint() const { return local_; }
    const asio::ip::tcp::endpoint& remote_endpoint() const { return remote_; }
    std::chrono::steady_clock::time_point last_receive() const { return channel_->last_receive(); }

    // Login hands the new session over here when the login phase ends.
    void enter_full_feature_phase(std::unique_ptr<Session> session);
    Session* session() { return session_.get(); }

private:
    iscsi::DataDestination data_destination(const iscsi::Bhs& bhs, std::uint32_t length) override;
    Result<void> on_pdu(const iscsi::ReceivedPdu& pdu) override;
    void on_closed(const iscsi::CloseReason& reason) override;

    Server& server_;
    Reactor& reactor_;
    asio::ip::tcp::endpoint local_, remote_;
    std::shared_ptr<iscsi::Channel> channel_;
    std::string log_prefix_;
    bool ended_ = false;

    std::unique_ptr<Login> login_;
    std::unique_ptr<Session> session_;
};

}  // namespace iscsikit::target
