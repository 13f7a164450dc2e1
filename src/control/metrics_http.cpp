#include "control/metrics_http.hpp"

#include <exception>
#include <stdexcept>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "control/exposition.hpp"

namespace iscsikit::control {

namespace {

constexpr auto kAwait = asio::experimental::as_tuple(asio::use_awaitable);

// RFC 9110 §5.6.2: tchar.
bool is_token_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_token_char(c)) return false;
    return true;
}

// The next line of `text` from `at` (CRLF or, RFC 9112 §2.2 allows it, a bare LF), advancing `at`.
std::string_view next_line(std::string_view text, std::size_t& at) {
    const auto end = text.find('\n', at);
    std::string_view line = text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    at = end == std::string_view::npos ? text.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

// Where the head ends (the empty line), or npos while it has not come.
std::size_t head_end(std::string_view seen) {
    const auto crlf = seen.find("\r\n\r\n");
    const auto lf = seen.find("\n\n");
    if (crlf == std::string_view::npos) return lf;
    if (lf == std::string_view::npos) return crlf;
    return std::min(crlf, lf);
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 505: return "HTTP Version Not Supported";
        default: return "Error";
    }
}

}  // namespace

HttpRoute route_request(std::string_view head) {
    std::size_t at = 0;
    const std::string_view request_line = next_line(head, at);
    // RFC 9112 §3: method SP request-target SP HTTP-version
    const auto first = request_line.find(' ');
    const auto second = first == std::string_view::npos ? first : request_line.find(' ', first + 1);
    if (second == std::string_view::npos || request_line.find(' ', second + 1) != std::string_view::npos) return {400};
    const auto method = request_line.substr(0, first);
    const auto target = request_line.substr(first + 1, second - first - 1);
    const auto version = request_line.substr(second + 1);
    if (!is_token(method) || target.empty()) return {400};
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.') return {400};
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return {505};
    // Header lines: field-name ":" ...; we need none, but a malformed head is refused.
    while (at < head.size()) {
        const auto line = next_line(head, at);
        if (line.empty()) break;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return {400};
    }
    const bool head_only = method == "HEAD";
    if (method != "GET" && !head_only) return {405};
    const auto path = target.substr(0, target.find('?'));
    if (path != "/metrics") return {404, head_only};
    return {200, head_only};
}

MetricsHttpServer::MetricsHttpServer(const iscsi::Portal& at, Render render, MetricsHttpOptions options)
    : acceptor_(io_), render_(std::move(render)), options_(options) {
    std::error_code ec;
    const auto address = asio::ip::make_address(at.host, ec);
    if (ec) throw std::runtime_error(fmt::format("metrics {}: not an IP address", at.to_string()));
    const asio::ip::tcp::endpoint endpoint(address, at.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error(fmt::format("metrics: cannot listen on {}: {}", at.to_string(), ec.message()));
    const auto bound = acceptor_.local_endpoint(ec);
    spdlog::info("metrics on http://{}/metrics", iscsi::Portal{at.host, bound.port()}.to_string());
    asio::co_spawn(io_, accept_loop(), [](const std::exception_ptr& e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            spdlog::error("metrics server stopped: {}", x.what());
        }
    });
    thread_ = std::thread([this] { io_.run(); });
}

MetricsHttpServer::~MetricsHttpServer() {
    asio::post(io_, [this] {
        std::error_code ignored;
        acceptor_.close(ignored);
    });
    io_.stop();
    if (thread_.joinable()) thread_.join();
}

asio::ip::tcp::endpoint MetricsHttpServer::local_endpoint() const {
    std::error_code ec;
    return acceptor_.local_endpoint(ec);
}

asio::awaitable<void> MetricsHttpServer::accept_loop() {
    for (;;) {
        auto socket = std::make_shared<asio::ip::tcp::socket>(io_);
        auto [ec] = co_await acceptor_.async_accept(*socket, kAwait);
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        if (ec) {
            spdlog::warn("metrics: accept failed: {}", ec.message());
            continue;
        }
        if (clients_ >= options_.max_clients) {
            std::error_code ignored;
            socket->close(ignored);  // busy: the scraper retries at its next interval
            continue;
        }
        ++clients_;
        asio::co_spawn(io_, serve(socket), [this](const std::exception_ptr& e) {
            --clients_;
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                spdlog::warn("metrics: a request failed: {}", x.what());
            }
        });
    }
}

asio::awaitable<void> MetricsHttpServer::serve(std::shared_ptr<asio::ip::tcp::socket> socket) {
    // One deadline for the whole exchange: a client that sends slowly or reads slowly is closed.
    asio::steady_timer deadline(io_);
    deadline.expires_after(options_.timeout);
    deadline.async_wait([socket](std::error_code ec) {
        if (ec) return;
        std::error_code ignored;
        socket->close(ignored);
    });
    std::vector<char> buffer(options_.max_request_bytes);
    std::size_t used = 0;
    HttpRoute route;
    for (;;) {
        if (used == buffer.size()) {
            route = {431};
            break;
        }
        auto [ec, n] =
            co_await socket->async_read_some(asio::buffer(buffer.data() + used, buffer.size() - used), kAwait);
        if (ec) co_return;  // closed, reset or timed out: nobody to answer
        const std::size_t searched_from = used < 3 ? 0 : used - 3;
        used += n;
        const std::string_view seen(buffer.data(), used);
        if (const auto end = head_end(seen.substr(searched_from)); end != std::string_view::npos) {
            route = route_request(seen.substr(0, searched_from + end));
            break;
        }
    }
    const std::string response = answer(route);
    auto [ec, n] = co_await asio::async_write(*socket, asio::buffer(response), kAwait);
    (void)n;
    std::error_code ignored;
    if (!ec) socket->shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    socket->close(ignored);
    deadline.cancel();
}

std::string MetricsHttpServer::answer(const HttpRoute& route) {
    std::string body;
    std::string_view type = "text/plain; charset=utf-8";
    int status = route.status;
    if (status == 200) {
        try {
            body = render_();
            type = kExpositionContentType;
        } catch (const std::exception& e) {
            spdlog::error("metrics: rendering failed: {}", e.what());
            status = 500;
        }
    }
    if (status != 200) body = fmt::format("{} {}\n", status, reason_phrase(status));
    std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n", status,
                                  reason_phrase(status), type, body.size());
    if (status == 405) out += "Allow: GET, HEAD\r\n";
    out += "Connection: close\r\n\r\n";
    if (!route.head_only) out += body;
    return out;
}

}  // namespace iscsikit::control
