// One TCP connection of an initiator session: connect within a deadline, exchange login PDUs one
// at a time, then a receive loop handing every PDU to the session and gathered writes. Lives on
// the session's executor.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "initiator/error.hpp"
#include "initiator/url.hpp"
#include "iscsi/pdu.hpp"
#include "iscsi/wire.hpp"

namespace iscsikit::initiator {

using Clock = std::chrono::steady_clock;

class Connection : public std::enable_shared_from_this<Connection> {
public:
    // What the full-feature phase receives. Both are called on the executor; on_closed once.
    struct Handler {
        virtual ~Handler() = default;
        // False closes the connection (a protocol error; the handler says why in `why`).
        virtual bool on_pdu(const iscsi::ReceivedPdu& pdu, std::string& why) = 0;
        virtual void on_closed(const std::string& why) = 0;
    };

    // Resolves and connects; unreachable ("cannot connect to P: connection refused" / "no answer
    // within N s") when that fails before `deadline`.
    static asio::awaitable<Result<std::shared_ptr<Connection>>> open(asio::any_io_executor executor, Portal portal,
                                                                     Clock::time_point deadline);

    Connection(asio::any_io_executor executor, Portal portal);
    ~Connection();

    // Login phase: sends `pdu` and waits for the next PDU, all before `deadline` (the socket is
    // closed when it passes). Data segments up to 8192 bytes (RFC 7143 §11.2.1.3 during login).
    asio::awaitable<Result<iscsi::Pdu>> exchange(const iscsi::Pdu& pdu, Clock::time_point deadline);

    // Full feature phase: digests and our receive limit, then the receive loop.
    void configure(bool header_digest, bool data_digest, std::uint32_t max_recv_data_segment_length);
    void start(Handler* handler);
    // Detaches the handler (it will not be called again) and closes the socket.
    void close();
    bool closed() const { return closed_; }

    // Queues one PDU for the next gathered write. `data` must stay valid until sent (or until
    // close()), unless `keep` owns it.
    void send(const iscsi::Bhs& bhs, ConstByteSpan data = {}, std::shared_ptr<const void> keep = {});
    // Runs `fn` once everything queued so far is written (or the connection closed).
    void when_sent(std::function<void()> fn);

    const Portal& portal() const { return portal_; }
    Clock::time_point last_receive() const { return last_receive_; }

private:
    asio::awaitable<void> receive_loop(std::shared_ptr<Connection> self);
    void schedule_flush();
    void flush();
    void drop(const std::string& why);

    asio::any_io_executor executor_;
    Portal portal_;
    asio::ip::tcp::socket socket_;
    Handler* handler_ = nullptr;
    iscsi::ReceiveBuffer rx_;
    iscsi::FrameLimits limits_;
    iscsi::SendBatch pending_, in_flight_;
    std::vector<std::function<void()>> pending_done_, in_flight_done_;
    bool writing_ = false, flush_scheduled_ = false, closed_ = false;
    Clock::time_point last_receive_ = Clock::now();
};

}  // namespace iscsikit::initiator
