// One connection of an initiator session: connect within a deadline, then the PDU channel
// (iscsi/channel.hpp) for login exchanges and the full feature phase. Lives on the session's
// executor.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "initiator/error.hpp"
#include "initiator/url.hpp"
#include "iscsi/channel.hpp"
#include "iscsi/pdu.hpp"

namespace iscsikit::initiator {

using Clock = std::chrono::steady_clock;

class Connection {
public:
    // Resolves and connects; unreachable ("cannot connect to P: connection refused" / "no answer
    // within N s") when that fails before `deadline`.
    static asio::awaitable<Result<std::shared_ptr<Connection>>> open(asio::any_io_executor executor, Portal portal,
                                                                     Clock::time_point deadline);

    // Over any transport (tests: one end of an in-memory pipe).
    Connection(std::unique_ptr<iscsi::ByteTransport> transport, Portal portal);
    ~Connection();

    // Login phase: sends `pdu` and waits for the next PDU, all before `deadline` (the connection
    // is closed when it passes). Data segments up to 8192 bytes (RFC 7143 §11.2.1.3 during login).
    asio::awaitable<Result<iscsi::Pdu>> exchange(const iscsi::Pdu& pdu, Clock::time_point deadline);

    // Full feature phase: digests and our receive limit, then the receive loop.
    void configure(bool header_digest, bool data_digest, std::uint32_t max_recv_data_segment_length) {
        channel_->set_limits({max_recv_data_segment_length, header_digest, data_digest});
    }
    void start(iscsi::ChannelHandler& handler) { channel_->start(handler); }
    // Detaches the handler (it will not be called again) and closes the connection.
    void close();
    bool closed() const { return channel_->closed(); }

    // Queues one PDU for the next gathered write. `data` must stay valid until sent (or until
    // close()), unless `keep` owns it.
    void send(const iscsi::Bhs& bhs, ConstByteSpan data = {}, std::shared_ptr<const void> keep = {}) {
        channel_->send(bhs, data, std::move(keep));
    }
    // Runs `fn` once everything queued so far is written (or the connection closed).
    void when_sent(Callback<void()> fn) { channel_->when_sent(std::move(fn)); }

    const Portal& portal() const { return portal_; }
    Clock::time_point last_receive() const { return channel_->last_receive(); }

private:
    Portal portal_;
    std::shared_ptr<iscsi::Channel> channel_;
};

}  // namespace iscsikit::initiator
