// The PDU channel: receive loop with in-place data placement, login-phase receive, gathered send.
#include "iscsi/channel.hpp"

#include <algorithm>
#include <cstring>

#include <asio/async_result.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "core/crc32c.hpp"
#include "iscsi/frame.hpp"

namespace iscsikit::iscsi {

namespace {

class ChannelCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "iscsi channel"; }
    std::string message(int value) const override {
        switch (static_cast<ChannelErrc>(value)) {
            case ChannelErrc::closed: return "the connection closed";
            case ChannelErrc::timed_out: return "no answer in time";
            case ChannelErrc::framing_error: return "malformed PDU";
            case ChannelErrc::data_digest_error: return "data digest error";
        }
        return "unknown channel error";
    }
};

// Room after a placed data segment for the next PDU's header, and no more: bytes read past it
// could be the next data segment, which should go to its own destination, not to our buffer.
constexpr std::size_t kHeaderReadAhead = kBhsLength + kDigestLength;

// Why a read ended the stream: the peer's orderly close, or the transport's error.
std::string read_failure(std::error_code ec) { return ec && ec != asio::error::eof ? ec.message() : kPeerClosed; }

// The transport's read as an awaitable, for the login phase.
template <class Token>
auto async_read_some(ByteTransport& transport, std::span<const ByteSpan> buffers, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [&transport](auto handler, std::span<const ByteSpan> into) {
            transport.read_some(
                into, [h = std::move(handler)](std::error_code ec, std::size_t n) mutable { std::move(h)(ec, n); });
        },
        token, buffers);
}

}  // namespace

const std::error_category& channel_category() {
    static const ChannelCategory category;
    return category;
}

Channel::Channel(std::unique_ptr<ByteTransport> transport, std::size_t receive_capacity)
    : transport_(std::move(transport)), rx_(receive_capacity) {}

Channel::~Channel() { transport_->close(); }

asio::awaitable<Result<Pdu>> Channel::receive(Clock::time_point deadline) {
    auto self = shared_from_this();
    asio::steady_timer timer(executor(), deadline);
    bool timed_out = false;
    timer.async_wait([this, &timed_out, self](std::error_code ec) {
        if (ec) return;
        timed_out = true;
        transport_->close();  // the read below completes with an error
    });
    struct CancelOnExit {
        asio::steady_timer& timer;
        ~CancelOnExit() { timer.cancel(); }
    } cancel{timer};

    for (;;) {
        if (closed_) co_return fail(ChannelErrc::closed, close_reason_.why);
        auto next = rx_.next(limits_);
        if (!next) co_return fail(ChannelErrc::framing_error, frame_error_name(next.error()));
        if (*next) {
            const ReceivedPdu& got = **next;
            if (!got.data_digest_ok) co_return fail(ChannelErrc::data_digest_error, "data digest error");
            Pdu out;
            out.bhs = got.bhs;
            out.ahs.assign(got.ahs.begin(), got.ahs.end());
            out.data.assign(got.data.begin(), got.data.end());
            co_return out;
        }
        const ByteSpan space = rx_.space();
        auto [ec, n] = co_await async_read_some(*transport_, std::span<const ByteSpan>(&space, 1),
                                                asio::experimental::as_tuple(asio::use_awaitable));
        if (timed_out) {
            close({"no answer in time"});
            co_return fail(ChannelErrc::timed_out, "no answer in time");
        }
        if (ec || n == 0) {
            const std::string why = read_failure(ec);
            close({why});
            co_return fail(ChannelErrc::closed, why);
        }
        rx_.commit(n);
        last_receive_ = Clock::now();
    }
}

void Channel::start(ChannelHandler& handler) {
    handler_ = &handler;
    started_ = true;
    last_receive_ = Clock::now();
    // Bytes that came with the last login PDU are handled on the next turn, as a read would be.
    asio::post(executor(), [self = shared_from_this()] { self->handle_received(); });
}

void Channel::handle_received() {
    handling_ = true;
    const bool placed = placement_.active && placement_.complete();
    const bool open = (!placed || finish_placement()) && process();
    handling_ = false;
    if (std::exchange(flush_after_handling_, false)) flush();
    if (open) read_more();  // not after a close, which read_more checks itself
}

void Channel::read_more() {
    if (closed_ || reading_) return;
    std::array<ByteSpan, 3> buffers;
    std::size_t count = 0;
    if (placement_.active) {
        Placement& p = placement_;
        if (p.filled < p.data.size()) buffers[count++] = p.data.subspan(p.filled);
        if (p.trailer_filled < p.trailer_length)
            buffers[count++] = ByteSpan(p.trailer.data() + p.trailer_filled, p.trailer_length - p.trailer_filled);
        buffers[count++] = rx_.space(kHeaderReadAhead);
    } else {
        buffers[count++] = rx_.space();
    }
    reading_ = true;
    transport_->read_some(std::span<const ByteSpan>(buffers.data(), count),
                          [self = shared_from_this()](std::error_code ec, std::size_t n) { self->on_read(ec, n); });
}

void Channel::on_read(std::error_code ec, std::size_t n) {
    reading_ = false;
    if (closed_) return;
    if (ec || n == 0) {
        close({read_failure(ec)});
        return;
    }
    last_receive_ = Clock::now();
    if (placement_.active) {
        Placement& p = placement_;
        const std::size_t into_data = std::min(n, p.data.size() - p.filled);
        p.filled += into_data;
        n -= into_data;
        const std::size_t into_trailer = std::min(n, p.trailer_length - p.trailer_filled);
        p.trailer_filled += into_trailer;
        n -= into_trailer;
        rx_.commit(n);
    } else {
        rx_.commit(n);
    }
    handle_received();
}

bool Channel::process() {
    while (!closed_ && handler_ && !placement_.active) {
        const ConstByteSpan available = rx_.available();
        if (available.size() < kBhsLength) return true;
        const Bhs bhs(available.first(kBhsLength));
        auto layout = frame_layout(bhs, limits_);
        if (!layout) {
            // RFC 7143 §11.2.1.3: a data segment beyond MaxRecvDataSegmentLength is a protocol
            // error; the length cannot be trusted to resynchronise, so the connection ends.
            close(
                {fmt::format("a PDU declares a data segment longer than our limit {}", limits_.max_data_segment_length),
                 true});
            return false;
        }
        const std::size_t header_length = kBhsLength + layout->ahs_length + (layout->header_digest ? kDigestLength : 0);
        if (layout->data_segment_length >= kMinPlacedSegment && available.size() >= header_length) {
            const ConstByteSpan ahs = available.subspan(kBhsLength, layout->ahs_length);
            if (layout->header_digest && !header_digest_ok(bhs, ahs, available.data() + kBhsLength + ahs.size())) {
                // RFC 7143 §7.8: a header digest error means the PDU boundaries are lost (ERL 0).
                close({"header digest mismatch", true});
                return false;
            }
            auto destination = handler_->data_destination(bhs, layout->data_segment_length);
            if (!destination.span.empty() && destination.span.size() == layout->data_segment_length) {
                const auto trailer = layout->padded_data_length - layout->data_segment_length +
                                     (layout->data_digest ? kDigestLength : 0);
                rx_.consume(header_length);
                if (begin_placement(bhs, ahs, layout->data_segment_length, trailer, std::move(destination)))
                    return true;
                if (!finish_placement()) return false;
                continue;
            }
        }
        auto next = rx_.next(limits_);
        if (!next) {
            close({next.error() == FrameError::header_digest_mismatch ? "header digest mismatch"
                                                                      : frame_error_name(next.error()),
                   true});
            return false;
        }
        if (!*next) return true;
        if (!deliver(**next)) return false;
    }
    return !closed_;
}

bool Channel::begin_placement(const Bhs& bhs, ConstByteSpan ahs, std::uint32_t length, std::uint32_t trailer_length,
                              DataDestination destination) {
    Placement& p = placement_;
    p.bhs = bhs;
    p.ahs.assign(ahs.begin(), ahs.end());  // ahs points into rx, which the reads below may move
    p.data = destination.span;
    p.keep = std::move(destination.keep);
    p.trailer_length = trailer_length;
    // What arrived with the header is copied once; the rest is read straight into place.
    const ConstByteSpan buffered = rx_.available();
    p.filled = std::min<std::size_t>(buffered.size(), length);
    if (p.filled) std::memcpy(p.data.data(), buffered.data(), p.filled);
    p.trailer_filled = std::min(buffered.size() - p.filled, p.trailer_length);
    if (p.trailer_filled) std::memcpy(p.trailer.data(), buffered.data() + p.filled, p.trailer_filled);
    rx_.consume(p.filled + p.trailer_filled);
    p.active = !p.complete();
    return p.active;
}

bool Channel::finish_placement() {
    Placement& p = placement_;
    p.active = false;
    const auto keep = std::move(p.keep);  // alive until the handler is done with the data
    ReceivedPdu pdu{p.bhs, ConstByteSpan(p.ahs.data(), p.ahs.size()), p.data, true};
    if (limits_.data_digest) {
        // RFC 7143 §11.1: the digest covers the data and its padding; computed where the data is.
        const std::size_t padding = p.trailer_length - kDigestLength;
        std::uint32_t crc = crc32c_update(kCrc32cInit, p.data);
        crc = crc32c_update(crc, ConstByteSpan(p.trailer.data(), padding));
        pdu.data_digest_ok = crc32c_finish(crc) == load_digest(p.trailer.data() + padding);
    }
    return deliver(pdu);
}

bool Channel::deliver(const ReceivedPdu& pdu) {
    if (!handler_) return false;
    auto result = handler_->on_pdu(pdu);
    if (!result) {
        close({result.error().message, true});
        return false;
    }
    return !closed_;
}

void Channel::send_copy(const Bhs& bhs, ConstByteSpan data) {
    if (data.empty()) {
        send(bhs);
        return;
    }
    auto owned = std::make_shared<std::vector<std::byte>>(data.begin(), data.end());
    const ConstByteSpan view(owned->data(), owned->size());
    send(bhs, view, std::move(owned));
}

bool Channel::send(const Bhs& bhs, ConstByteSpan data, std::shared_ptr<const void> keep, FileRange file) {
    if (closed_) return false;
    if (data.size() < kMinFileSegment) file = {};
    const bool by_file = pending_.add(bhs, data, limits_.header_digest, limits_.data_digest, std::move(keep), file);
    schedule_flush();
    return by_file;
}

void Channel::send_pieces(const Bhs& bhs, std::span<const ConstByteSpan> pieces, std::shared_ptr<const void> keep) {
    if (closed_) return;
    if (limits_.data_digest) {  // the digest reads one segment: join the pieces, once
        auto joined = std::make_shared<std::vector<std::byte>>();
        for (const auto& piece : pieces) joined->insert(joined->end(), piece.begin(), piece.end());
        const ConstByteSpan view(joined->data(), joined->size());
        send(bhs, view, std::move(joined));
        return;
    }
    pending_.add_pieces(bhs, pieces, limits_.header_digest, std::move(keep));
    schedule_flush();
}

void Channel::when_sent(Callback<void()> done) {
    if (closed_ || (!writing_ && pending_.empty())) {
        asio::post(executor(), std::move(done));
        return;
    }
    pending_done_.push_back(std::move(done));
    schedule_flush();
}

void Channel::close_after_send(CloseReason reason) {
    close_when_sent_ = true;
    close_reason_ = std::move(reason);
    if (!writing_ && pending_.empty()) close(close_reason_);
}

void Channel::schedule_flush() {
    if (handling_) {
        flush_after_handling_ = true;
        return;
    }
    if (writing_ || flush_scheduled_) return;
    flush_scheduled_ = true;
    asio::post(executor(), [self = shared_from_this()] {
        self->flush_scheduled_ = false;
        self->flush();
    });
}

void Channel::flush() {
    while (!closed_ && !writing_) {
        if (pending_.empty()) {
            run_done(pending_done_);
            if (close_when_sent_) close(close_reason_);
            return;
        }
        std::swap(pending_, in_flight_);
        std::swap(pending_done_, in_flight_done_);
        writing_ = true;
        iov_.clear();
        in_flight_.segments(iov_);
        if (!transport_->write(iov_, [self = shared_from_this()](std::error_code ec, std::size_t) {
                self->written(ec);
                self->flush();
            }))
            return;
        // All of it went out at once: what waited for it runs now, and what that queued goes next.
        written({});
    }
}

void Channel::written(std::error_code ec) {
    writing_ = false;
    in_flight_.clear();
    run_done(in_flight_done_);
    if (ec) close({"send failed: " + ec.message()});
}

void Channel::run_done(std::vector<Callback<void()>>& list) {
    for (auto& done : list) done();
    list.clear();
}

void Channel::close(const CloseReason& reason) {
    if (closed_) return;
    closed_ = true;
    close_reason_ = reason;  // `reason` may be close_reason_ itself: self-assignment is harmless
    transport_->close();
    pending_.clear();
    // A closed transport writes into no buffer: the destination may go.
    placement_.active = false;
    placement_.keep.reset();
    // The transport no longer touches queued data: whoever waits for it may release it now.
    for (auto& done : pending_done_) asio::post(executor(), std::move(done));
    pending_done_.clear();
    if (auto* handler = std::exchange(handler_, nullptr)) handler->on_closed(close_reason_);
}

}  // namespace iscsikit::iscsi
