// One TCP connection of a target: framing in and out, the login phase, then the session's full
// feature phase. Lives on one reactor for its whole life; every member runs on that thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "iscsi/pdu.hpp"
#include "iscsi/wire.hpp"
#include "target/reactor.hpp"

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

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(Server& server, Reactor& reactor, asio::ip::tcp::socket socket);
    ~Connection();

    void start();
    // Closes the socket and ends the session's work on this connection; idempotent. `why` goes to
    // the log (warn when the peer misbehaved, info for orderly ends).
    void close(const std::string& why, bool peer_error = false);
    bool closed() const { return closed_; }

    // Queues one PDU. `data` must stay valid until sent: either it is copied (copy_data) or
    // `keep` owns it. Everything queued in one reactor turn goes out in one gathered write.
    void send(const iscsi::Bhs& bhs, ConstByteSpan data = {}, std::shared_ptr<const void> keep = {});
    void send_copy(const iscsi::Bhs& bhs, ConstByteSpan data);
    // Closes once everything queued so far is on the wire (logout, login failure).
    void close_after_send(const std::string& why);

    // Digests and receive limit, set when login completes (and during login, 8192 bytes).
    void set_digests(bool header, bool data) { header_digest_ = header; data_digest_ = data; }
    void set_max_recv_data_segment_length(std::uint32_t n) { max_recv_data_segment_length_ = n; }

    Server& server() { return server_; }
    Reactor& reactor() { return reactor_; }
    const std::string& log_prefix() const { return log_prefix_; }
    void set_log_prefix(std::string prefix) { log_prefix_ = std::move(prefix); }
    const asio::ip::tcp::endpoint& local_endpoint() const { return local_; }
    const asio::ip::tcp::endpoint& remote_endpoint() const { return remote_; }
    std::chrono::steady_clock::time_point last_receive() const { return last_receive_; }

    // Login hands the new session over here when the login phase ends.
    void enter_full_feature_phase(std::unique_ptr<Session> session);
    Session* session() { return session_.get(); }

private:
    asio::awaitable<void> receive_loop();
    // Parses and dispatches every complete PDU in rx; returns false when the connection must close.
    bool process_received();
    bool dispatch(const PduRef& pdu);
    void schedule_flush();
    void flush();

    Server& server_;
    Reactor& reactor_;
    asio::ip::tcp::socket socket_;
    asio::ip::tcp::endpoint local_, remote_;
    std::string log_prefix_;
    asio::steady_timer login_timer_;

    iscsi::ReceiveBuffer rx_;
    std::uint32_t max_recv_data_segment_length_ = 8192;
    bool header_digest_ = false, data_digest_ = false;

    iscsi::SendBatch pending_, in_flight_;
    bool writing_ = false, flush_scheduled_ = false, close_when_sent_ = false;
    std::string close_reason_;
    bool closed_ = false;
    std::chrono::steady_clock::time_point last_receive_;

    std::unique_ptr<Login> login_;
    std::unique_ptr<Session> session_;
};

}  // namespace iscsikit::target
