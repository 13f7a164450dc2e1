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
    Watchdog(const asio::any_io_executor& ex, asio::ip::tcp::socket& socket, Clock::time_point deadline)
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

Connection::Connection(std::unique_ptr<iscsi::ByteTransport> transport, Portal portal)
    : portal_(std::move(portal)), channel_(std::make_shared<iscsi::Channel>(std::move(transport))) {}

Connection::~Connection() { close(); }

void Connection::close() {
    channel_->detach();
    channel_->close({"closed by the session"});
}

asio::awaitable<Result<std::shared_ptr<Connection>>> Connection::open(asio::any_io_executor executor, Portal portal,
                                                                      Clock::time_point deadline) {
    asio::ip::tcp::socket socket(executor);
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
            co_return fail(
                ErrorKind::unreachable,
                fmt::format("cannot connect to {}: {}", portal.to_string(),
                            timed_out ? "name lookup took longer than " + seconds_text(deadline - started)
                                      : "cannot resolve host name (" + lowercase_first(rec.message()) + ")"));
        for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }
    Watchdog watchdog(executor, socket, deadline);
    auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, as_tuple(use_awaitable));
    if (cec || watchdog.fired()) {
        const std::string why =
            watchdog.fired() ? "no answer within " + seconds_text(deadline - started) : lowercase_first(cec.message());
        co_return fail(ErrorKind::unreachable, fmt::format("cannot connect to {}: {}", portal.to_string(), why));
    }
    auto transport = std::make_unique<iscsi::TcpTransport>(std::move(socket));
    co_return std::make_shared<Connection>(std::move(transport), std::move(portal));
}

asio::awaitable<Result<iscsi::Pdu>> Connection::exchange(const iscsi::Pdu& pdu, Clock::time_point deadline) {
    auto channel = channel_;  // alive while the coroutine runs
    const auto started = Clock::now();
    channel->send_copy(pdu.bhs, ConstByteSpan(pdu.data.data(), pdu.data.size()));
    auto got = co_await channel->receive(deadline);
    if (got) co_return std::move(*got);
    const auto& error = got.error();
    if (error.code == iscsi::ChannelErrc::timed_out)
        co_return fail(ErrorKind::unreachable, fmt::format("cannot connect to {}: no answer within {}",
                                                           portal_.to_string(), seconds_text(deadline - started)));
    if (error.code == iscsi::ChannelErrc::closed)
        co_return fail(ErrorKind::login_failed,
                       fmt::format("{} closed the connection during login{}", portal_.to_string(),
                                   error.message == iscsi::kPeerClosed ? "" : " (" + error.message + ")"));
    if (error.code == iscsi::ChannelErrc::data_digest_error)
        co_return fail(ErrorKind::protocol_error, fmt::format("data digest error from {}", portal_.to_string()));
    co_return fail(ErrorKind::protocol_error,
                   fmt::format("{} sent a malformed PDU ({})", portal_.to_string(), error.message));
}

}  // namespace iscsikit::initiator
