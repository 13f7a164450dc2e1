// The initiator's TCP connection: connect and login exchanges with a deadline, then the receive
// loop and gathered writes of the full feature phase.
#include "initiator/connection.hpp"

#include <cctype>

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iscsi/frame.hpp"

namespace iscsikit::initiator {

using asio::use_awaitable;
using asio::experimental::as_tuple;

namespace {

std::string seconds_text(Clock::duration d) {
    return fmt::format("{:.3g} s", std::chrono::duration<double>(d).count());
}

// strerror text starts with a capital ("Connection refused"); inside our sentences it should not.
std::string lowercase_first(std::string text) {
    if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    return text;
}

// Closes the socket when the deadline passes, so that whatever waits on it fails.
class Watchdog {
public:
    Watchdog(asio::any_io_executor ex, asio::ip::tcp::socket& socket, Clock::time_point deadline)
        : timer_(std::make_shared<asio::steady_timer>(ex, deadline)), fired_(std::make_shared<bool>(false)) {
        timer_->async_wait([&socket, fired = fired_](std::error_code ec) {
            if (ec) return;
            *fired = true;
            std::error_code ignored;
            socket.close(ignored);
        });
    }
    ~Watchdog() { timer_->cancel(); }
    bool fired() const { return *fired_; }

private:
    std::shared_ptr<asio::steady_timer> timer_;
    std::shared_ptr<bool> fired_;
};

}  // namespace

Connection::Connection(asio::any_io_executor executor, Portal portal)
    : executor_(executor), portal_(std::move(portal)), socket_(executor), rx_(64 * 1024) {}

Connection::~Connection() = default;

asio::awaitable<Result<std::shared_ptr<Connection>>> Connection::open(asio::any_io_executor executor, Portal portal,
                                                                      Clock::time_point deadline) {
    auto conn = std::make_shared<Connection>(executor, portal);
    const auto started = Clock::now();
    std::vector<asio::ip::tcp::endpoint> endpoints;
    std::error_code ec;
    const auto address = asio::ip::make_address(portal.host, ec);
    if (!ec) {
        endpoints.emplace_back(address, portal.port);
    } else {
        asio::ip::tcp::resolver resolver(executor);
        asio::steady_timer timer(executor, deadline);
        bool timed_out = false;
        timer.async_wait([&](std::error_code e) {
            if (!e) {
                timed_out = true;
                resolver.cancel();
            }
        });
        auto [rec, results] =
            co_await resolver.async_resolve(portal.host, std::to_string(portal.port), as_tuple(use_awaitable));
        timer.cancel();
        if (rec || timed_out)
            co_return fail(ErrorKind::unreachable,
                           fmt::format("cannot connect to {}: {}", portal.to_string(),
                                       timed_out ? "name lookup took longer than " + seconds_text(deadline - started)
                                                 : "cannot resolve host name (" + lowercase_first(rec.message()) + ")"));
        for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }
    Watchdog watchdog(executor, conn->socket_, deadline);
    auto [cec, endpoint] = co_await asio::async_connect(conn->socket_, endpoints, as_tuple(use_awaitable));
    if (cec || watchdog.fired()) {
        const std::string why =
            watchdog.fired() ? "no answer within " + seconds_text(deadline - started) : lowercase_first(cec.message());
        co_return fail(ErrorKind::unreachable, fmt::format("cannot connect to {}: {}", portal.to_string(), why));
    }
    conn->socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    co_return conn;
}

asio::awaitable<Result<iscsi::Pdu>> Connection::exchange(const iscsi::Pdu& pdu, Clock::time_point deadline) {
    auto self = shared_from_this();
    const auto started = Clock::now();
    Watchdog watchdog(executor_, socket_, deadline);
    auto timed_out = [&] {
        return fail(ErrorKind::unreachable, fmt::format("cannot connect to {}: no answer within {}", portal_.to_string(),
                                                        seconds_text(deadline - started)));
    };
    std::vector<std::byte> wire;
    iscsi::encode_pdu(pdu, limits_.header_digest, limits_.data_digest, wire);
    auto [wec, written] = co_await asio::async_write(socket_, asio::buffer(wire), as_tuple(use_awaitable));
    if (wec) {
        if (watchdog.fired()) co_return timed_out();
        co_return fail(ErrorKind::login_failed, fmt::format("sending to {} failed: {}", portal_.to_string(), wec.message()));
    }
    for (;;) {
        auto next = rx_.next(limits_);
        if (!next)
            co_return fail(ErrorKind::protocol_error, fmt::format("{} sent a malformed PDU ({})", portal_.to_string(),
                                                                  iscsi::frame_error_name(next.error())));
        if (*next) {
            const auto& got = **next;
            if (!got.data_digest_ok)
                co_return fail(ErrorKind::protocol_error, fmt::format("data digest error from {}", portal_.to_string()));
            iscsi::Pdu out;
            out.bhs = got.bhs;
            out.ahs.assign(got.ahs.begin(), got.ahs.end());
            out.data.assign(got.data.begin(), got.data.end());
            co_return out;
        }
        auto space = rx_.space();
        auto [rec, n] = co_await socket_.async_read_some(asio::buffer(space.data(), space.size()), as_tuple(use_awaitable));
        if (rec || n == 0) {
            if (watchdog.fired()) co_return timed_out();
            co_return fail(ErrorKind::login_failed,
                           fmt::format("{} closed the connection during login{}", portal_.to_string(),
                                       rec && rec != asio::error::eof ? " (" + rec.message() + ")" : ""));
        }
        rx_.commit(n);
    }
}

void Connection::configure(bool header_digest, bool data_digest, std::uint32_t max_recv_data_segment_length) {
    limits_ = iscsi::FrameLimits{max_recv_data_segment_length, header_digest, data_digest};
}

void Connection::start(Handler* handler) {
    handler_ = handler;
    last_receive_ = Clock::now();
    auto self = shared_from_this();
    asio::co_spawn(executor_, receive_loop(self), asio::detached);
}

asio::awaitable<void> Connection::receive_loop(std::shared_ptr<Connection> keep_alive) {
    (void)keep_alive;  // the loop owns the connection while it runs
    while (!closed_) {
        auto space = rx_.space();
        auto [ec, n] = co_await socket_.async_read_some(asio::buffer(space.data(), space.size()), as_tuple(use_awaitable));
        if (closed_) co_return;
        if (ec || n == 0) {
            drop(ec == asio::error::eof || !ec ? "the target closed the connection" : ec.message());
            co_return;
        }
        rx_.commit(n);
        last_receive_ = Clock::now();
        for (;;) {
            auto next = rx_.next(limits_);
            if (!next) {
                drop(fmt::format("malformed PDU from the target ({})", iscsi::frame_error_name(next.error())));
                co_return;
            }
            if (!*next) break;
            if (!(*next)->data_digest_ok) {
                // ERL 0 has no SNACK to recover the data: the connection is recovered instead.
                drop(fmt::format("data digest error on {}", iscsi::opcode_name((*next)->bhs.opcode())));
                co_return;
            }
            std::string why;
            if (!handler_->on_pdu(**next, why)) {
                drop(why);
                co_return;
            }
            if (closed_) co_return;
        }
    }
}

void Connection::send(const iscsi::Bhs& bhs, ConstByteSpan data, std::shared_ptr<const void> keep) {
    if (closed_) return;
    pending_.add(bhs, data, limits_.header_digest, limits_.data_digest, std::move(keep));
    schedule_flush();
}

void Connection::when_sent(std::function<void()> fn) {
    if (closed_ || (!writing_ && pending_.empty())) {
        asio::post(executor_, std::move(fn));
        return;
    }
    pending_done_.push_back(std::move(fn));
    schedule_flush();
}

void Connection::schedule_flush() {
    if (writing_ || flush_scheduled_) return;
    flush_scheduled_ = true;
    asio::post(executor_, [self = shared_from_this()] {
        self->flush_scheduled_ = false;
        self->flush();
    });
}

void Connection::flush() {
    if (closed_ || writing_) return;
    if (pending_.empty()) {
        for (auto& fn : pending_done_) asio::post(executor_, std::move(fn));
        pending_done_.clear();
        return;
    }
    std::swap(pending_, in_flight_);
    std::swap(pending_done_, in_flight_done_);
    writing_ = true;
    std::vector<asio::const_buffer> iov;
    for (auto span : in_flight_.buffers()) iov.emplace_back(span.data(), span.size());
    asio::async_write(socket_, iov, [self = shared_from_this()](std::error_code ec, std::size_t) {
        self->writing_ = false;
        self->in_flight_.clear();
        for (auto& fn : self->in_flight_done_) fn();
        self->in_flight_done_.clear();
        if (ec) {
            self->drop("send failed: " + ec.message());
            return;
        }
        self->flush();
    });
}

void Connection::drop(const std::string& why) {
    if (closed_) return;
    Handler* handler = handler_;
    close();
    if (handler) handler->on_closed(why);
}

void Connection::close() {
    if (closed_) return;
    closed_ = true;
    handler_ = nullptr;
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    // The socket no longer touches any queued data: callers may release it now.
    for (auto& fn : pending_done_) asio::post(executor_, std::move(fn));
    pending_done_.clear();
    pending_.clear();
}

}  // namespace iscsikit::initiator
