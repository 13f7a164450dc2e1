#include "target/connection.hpp"

#include <cstring>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "core/crc32c.hpp"
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
    : server_(server), reactor_(reactor), socket_(std::move(socket)), login_timer_(reactor.context()) {
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
    if (!writing_ && pending_.pdus.empty()) close(why);
}

void Connection::enter_full_feature_phase(std::unique_ptr<Session> session) {
    login_timer_.cancel();
    session_ = std::move(session);
    session_->start();
}

asio::awaitable<void> Connection::receive_loop() {
    auto self = shared_from_this();
    rx_capacity_ = kInitialRxCapacity;
    rx_.reset(new std::byte[rx_capacity_]);
    while (!closed_) {
        if (rx_end_ == rx_capacity_) {  // compact; process_received() grew the buffer if one PDU needs more
            std::memmove(rx_.get(), rx_.get() + rx_begin_, rx_end_ - rx_begin_);
            rx_end_ -= rx_begin_;
            rx_begin_ = 0;
        }
        auto [ec, n] = co_await socket_.async_read_some(
            asio::buffer(rx_.get() + rx_end_, rx_capacity_ - rx_end_), as_tuple(asio::use_awaitable));
        if (ec || n == 0) {
            if (!closed_) close(ec == asio::error::eof || !ec ? "peer closed the connection" : ec.message());
            co_return;
        }
        rx_end_ += n;
        last_receive_ = std::chrono::steady_clock::now();
        if (!process_received()) co_return;
    }
}

bool Connection::process_received() {
    iscsi::FrameLimits limits{max_recv_data_segment_length_, header_digest_, data_digest_};
    while (!closed_ && rx_end_ - rx_begin_ >= iscsi::kBhsLength) {
        std::byte* start = rx_.get() + rx_begin_;
        iscsi::Bhs bhs(ConstByteSpan(start, iscsi::kBhsLength));
        auto layout = iscsi::frame_layout(bhs, limits);
        if (!layout) {
            // RFC 7143 §11.2.1.3: a data segment beyond MaxRecvDataSegmentLength is a protocol
            // error; the length cannot be trusted to resynchronise, so the connection ends.
            close(fmt::format("{} PDU declares a {}-byte data segment, more than our limit {}",
                              iscsi::opcode_name(bhs.opcode()), bhs.data_segment_length(), limits.max_data_segment_length),
                  true);
            return false;
        }
        const std::size_t total = iscsi::kBhsLength + layout->remaining();
        if (rx_end_ - rx_begin_ < total) {
            if (total > rx_capacity_) {  // bounded: total <= 48 + 1020 + digests + MaxRecvDataSegmentLength
                auto bigger = std::unique_ptr<std::byte[]>(new std::byte[total]);
                std::memcpy(bigger.get(), start, rx_end_ - rx_begin_);
                rx_end_ -= rx_begin_;
                rx_begin_ = 0;
                rx_ = std::move(bigger);
                rx_capacity_ = total;
            } else if (rx_begin_ + total > rx_capacity_) {
                std::memmove(rx_.get(), start, rx_end_ - rx_begin_);
                rx_end_ -= rx_begin_;
                rx_begin_ = 0;
            }
            return true;
        }
        const std::byte* p = start + iscsi::kBhsLength;
        ConstByteSpan ahs(p, layout->ahs_length);
        p += layout->ahs_length;
        if (layout->header_digest) {
            if (!iscsi::header_digest_ok(bhs, ahs, p)) {
                // RFC 7143 §7.8: a header digest error means the PDU boundaries are lost (ERL 0).
                close("header digest mismatch", true);
                return false;
            }
            p += iscsi::kDigestLength;
        }
        ConstByteSpan data(p, layout->data_segment_length);
        if (layout->data_digest && layout->data_segment_length) {
            if (!iscsi::data_digest_ok(ConstByteSpan(p, layout->padded_data_length), p + layout->padded_data_length)) {
                // RFC 7143 §7.8: discard the PDU and Reject it with reason "data digest error".
                spdlog::warn("{} data digest mismatch on {} ITT {:#x}", log_prefix_, iscsi::opcode_name(bhs.opcode()),
                             bhs.initiator_task_tag());
                rx_begin_ += total;
                if (session_) session_->data_digest_error(PduRef{bhs, ahs, data});
                continue;
            }
        }
        rx_begin_ += total;
        if (!dispatch(PduRef{bhs, ahs, data})) return false;
    }
    if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
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
    iscsi::Bhs bhs = header;
    bhs.set_total_ahs_length(0);
    bhs.set_data_segment_length(static_cast<std::uint32_t>(data.size()));
    Outgoing out{};
    out.header_offset = pending_.headers.size();
    out.header_length = iscsi::kBhsLength + (header_digest_ ? iscsi::kDigestLength : 0);
    pending_.headers.insert(pending_.headers.end(), bhs.data(), bhs.data() + iscsi::kBhsLength);
    if (header_digest_) {
        std::byte digest[4];
        store_digest(digest, crc32c(bhs.span()));
        pending_.headers.insert(pending_.headers.end(), digest, digest + 4);
    }
    out.data = data;
    const std::uint32_t padding = pad4(static_cast<std::uint32_t>(data.size())) - static_cast<std::uint32_t>(data.size());
    out.trailer.fill(std::byte{0});
    out.trailer_length = static_cast<std::uint8_t>(padding);
    if (data_digest_ && !data.empty()) {
        std::uint32_t crc = crc32c_update(kCrc32cInit, data);
        crc = crc32c_update(crc, ConstByteSpan(out.trailer.data(), padding));
        store_digest(out.trailer.data() + padding, crc32c_finish(crc));
        out.trailer_length = static_cast<std::uint8_t>(padding + 4);
    }
    out.keep = std::move(keep);
    pending_.pdus.push_back(std::move(out));
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
    if (pending_.pdus.empty()) {
        if (close_when_sent_) close(close_reason_);
        return;
    }
    std::swap(pending_, in_flight_);
    writing_ = true;
    std::vector<asio::const_buffer> iov;
    iov.reserve(in_flight_.pdus.size() * 3);
    for (auto& out : in_flight_.pdus) {
        iov.emplace_back(in_flight_.headers.data() + out.header_offset, out.header_length);
        if (!out.data.empty()) iov.emplace_back(out.data.data(), out.data.size());
        if (out.trailer_length) iov.emplace_back(out.trailer.data(), out.trailer_length);
    }
    asio::async_write(socket_, iov, [self = shared_from_this()](std::error_code ec, std::size_t) {
        self->writing_ = false;
        self->in_flight_.clear();
        if (ec) {
            self->close("send failed: " + ec.message());
            return;
        }
        if (!self->pending_.pdus.empty())
            self->flush();
        else if (self->close_when_sent_)
            self->close(self->close_reason_);
    });
}

}  // namespace iscsikit::target
