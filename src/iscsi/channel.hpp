// The PDU channel both roles use (RFC 7143 §11.1, §12.1): over one ByteTransport it frames
// incoming PDUs (limits and digests checked before anything is allocated), places data segments
// where the receiver wants them, and gathers everything queued in one executor turn into one
// write. The target's and the initiator's connections are thin shells around it.
//
// Receive, two phases:
// - login: `receive()` is a coroutine returning the next whole PDU (owned bytes), so each role's
//   login reads top to bottom like the RFC's sequence;
// - full feature: `start(handler)` runs the receive loop, calling the handler for each PDU. The
//   handler may first name a destination for a PDU's data segment (`data_destination`): the rest
//   of the segment is then read straight into it, with no copy from the receive buffer (LIO
//   receives Data-Out this way).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "core/callback.hpp"
#include "core/result.hpp"
#include "iscsi/pdu.hpp"
#include "iscsi/transport.hpp"
#include "iscsi/wire.hpp"

namespace iscsikit::iscsi {

enum class ChannelErrc {
    closed = 1,         // the stream ended or the channel was closed
    timed_out,          // a login-phase receive passed its deadline
    framing_error,      // a data segment over our limit or a header digest error
    data_digest_error,  // during login, where no recovery is possible
};
const std::error_category& channel_category();
inline std::error_code make_error_code(ChannelErrc e) { return {static_cast<int>(e), channel_category()}; }

using Clock = std::chrono::steady_clock;

// The reason a channel gives when the peer ended the stream in order (EOF).
inline constexpr const char* kPeerClosed = "the peer closed the connection";

// Why a channel closed: a sentence for the log, and whether the peer broke the protocol (warn)
// or the close was orderly or ours (info).
struct CloseReason {
    std::string why;
    bool peer_error = false;
};

// Where a data segment is to be received: exactly its length, kept alive by `keep` (when set)
// for as long as a read may write into it.
struct DataDestination {
    ByteSpan span;
    std::shared_ptr<const void> keep;
};

class ChannelHandler {
public:
    virtual ~ChannelHandler() = default;
    // Where the data segment of the PDU with this header should go, or an empty span to receive
    // it into the channel's buffer (on_pdu then sees it there). Called only for PDUs with at
    // least Channel::kMinPlacedSegment bytes of data, once their header is in, before on_pdu; it must not change state
    // (the PDU has not been checked yet). on_pdu sees `data` pointing into the destination when it was used.
    virtual DataDestination data_destination(const Bhs& bhs, std::uint32_t length) {
        (void)bhs;
        (void)length;
        return {};
    }
    // One received PDU; its views are valid during the call only. `data_digest_ok` false means
    // RFC 7143 §7.8: the PDU is to be discarded (and, by a target, rejected). An error closes the
    // channel as a protocol error with that message.
    virtual Result<void> on_pdu(const ReceivedPdu& pdu) = 0;
    // The channel closed (once); the handler is not called again.
    virtual void on_closed(const CloseReason& reason) = 0;
};

class Channel : public std::enable_shared_from_this<Channel> {
public:
    // Data segments shorter than this are not placed: they stay in the channel's buffer and the
    // handler copies them. A placed segment is followed by a read of one header only (bytes read
    // past it could be the next segment's, which should go to its own place), so placing small
    // segments would cost a read per PDU where unplaced ones arrive many to a read: 4 KiB writes
    // at QD32 ran at a third of their rate that way. Copying 16 KiB costs less than a system call.
    static constexpr std::uint32_t kMinPlacedSegment = 16 * 1024;
    // Data segments shorter than this are sent as bytes even when they lie in a file: each file
    // segment costs a system call of its own (sendfile) and ends the gathered write around it,
    // where a small segment's copy costs less.
    static constexpr std::uint32_t kMinFileSegment = 64 * 1024;

    explicit Channel(std::unique_ptr<ByteTransport> transport, std::size_t receive_capacity = std::size_t{64} * 1024);
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    ByteTransport& transport() { return *transport_; }
    asio::any_io_executor executor() const { return transport_->executor(); }

    // Digests and our MaxRecvDataSegmentLength; during login 8192 bytes and no digests
    // (RFC 7143 §11.2.1.3, §13.1). They apply from the next PDU received or queued.
    void set_limits(const FrameLimits& limits) { limits_ = limits; }
    const FrameLimits& limits() const { return limits_; }

    // Login phase: the next whole PDU, or an error when the stream ends, breaks the framing or
    // `deadline` passes (the channel is closed then). Data digest errors are errors here.
    asio::awaitable<Result<Pdu>> receive(Clock::time_point deadline);

    // Full feature phase: the receive loop, until close. Bytes already received are processed.
    void start(ChannelHandler& handler);
    // The handler is not called again (its owner is going away); nothing else changes.
    void detach() { handler_ = nullptr; }

    // Queues one PDU (TotalAHSLength cleared, DataSegmentLength set from `data`); everything
    // queued in one executor turn goes out in one gathered write. `data` must stay valid until
    // written, unless `keep` owns it. `file`: where `data` also lies in a file, for the transport
    // to send by page reference (not for segments under kMinFileSegment, nor with data digests);
    // those pages are then read when the peer reads them, after the write has completed. Returns
    // whether the data goes by page reference.
    bool send(const Bhs& bhs, ConstByteSpan data = {}, std::shared_ptr<const void> keep = {}, FileRange file = {});
    // Like send, with `data` copied first.
    void send_copy(const Bhs& bhs, ConstByteSpan data);
    // Like send, the data segment gathered from `pieces` (which must stay valid until written,
    // unless `keep` owns them); with a data digest they are copied into one buffer first.
    void send_pieces(const Bhs& bhs, std::span<const ConstByteSpan> pieces, std::shared_ptr<const void> keep = {});
    // Runs `done` once everything queued so far is written, or the channel closed.
    void when_sent(Callback<void()> done);
    // Closes once everything queued so far is written (logout, login failure).
    void close_after_send(CloseReason reason);
    // Closes the transport and tells the handler (once). Idempotent.
    void close(const CloseReason& reason);
    bool closed() const { return closed_; }

    Clock::time_point last_receive() const { return last_receive_; }

private:
    // The data segment being read into a destination outside the receive buffer.
    struct Placement {
        Bhs bhs;
        std::vector<std::byte> ahs;  // usually empty (no AHS in PDUs with data in practice)
        ByteSpan data;               // the whole destination
        std::shared_ptr<const void> keep;
        std::size_t filled = 0;              // bytes of `data` in place
        std::array<std::byte, 8> trailer{};  // padding and data digest
        std::size_t trailer_length = 0, trailer_filled = 0;
        bool active = false;
        // Every byte of the data segment and its trailer is in place.
        bool complete() const { return filled == data.size() && trailer_filled == trailer_length; }
    };

    void read_more();
    void on_read(std::error_code ec, std::size_t n);
    // Handles every complete PDU in the buffer; false when the channel closed.
    bool process();
    bool deliver(const ReceivedPdu& pdu);
    // Starts placing a PDU's data segment; false when the buffered bytes already finish it.
    bool begin_placement(const Bhs& bhs, ConstByteSpan ahs, std::uint32_t length, std::uint32_t trailer_length,
                         DataDestination destination);
    bool finish_placement();
    // Handles received bytes: every complete PDU, then the write of what their handling queued,
    // then the next read. False when the channel closed.
    void handle_received();
    void schedule_flush();
    // Writes what is queued, then what the write's waiters queue, until nothing is left or a
    // write has to wait for room (its completion flushes on).
    void flush();
    // The write under way has finished (`ec`: failed): frees its data and runs its waiters.
    void written(std::error_code ec);
    void run_done(std::vector<Callback<void()>>& list);

    std::unique_ptr<ByteTransport> transport_;
    ChannelHandler* handler_ = nullptr;
    FrameLimits limits_{8192, false, false};
    ReceiveBuffer rx_;
    Placement placement_;
    bool reading_ = false, started_ = false;

    SendBatch pending_, in_flight_;
    std::vector<OutSegment> iov_;  // reused for every write
    std::vector<Callback<void()>> pending_done_, in_flight_done_;
    bool writing_ = false, flush_scheduled_ = false, close_when_sent_ = false;
    // Set while received PDUs are handled: sends then wait for the end of that handling instead
    // of posting a flush, so a response computed at once leaves before the next read, with no
    // extra turn of the executor (and its poll) in between.
    bool handling_ = false, flush_after_handling_ = false;
    CloseReason close_reason_;
    bool closed_ = false;
    Clock::time_point last_receive_ = Clock::now();
};

}  // namespace iscsikit::iscsi

template <>
struct std::is_error_code_enum<iscsikit::iscsi::ChannelErrc> : std::true_type {};
