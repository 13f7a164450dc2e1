// The tiny HTTP/1.1 server behind `--metrics HOST:PORT`: GET (or HEAD) /metrics answers the
// Prometheus text format, any other path 404, any other method 405; every answer closes the
// connection. It runs on a thread of its own, never on a reactor. Bad input costs bounded memory
// and time: the request head is read into a fixed buffer (431 when it does not fit), a client
// gets `timeout` for the whole exchange, and at most `max_clients` are served at once (more are
// closed at once).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "iscsi/portal.hpp"

namespace iscsikit::control {

// What a request head (request line and header lines, without the empty line that ends it) gets.
struct HttpRoute {
    int status = 400;        // 200, 400, 404, 405 or 505
    bool head_only = false;  // HEAD: the answer without its body
};
HttpRoute route_request(std::string_view head);

struct MetricsHttpOptions {
    std::chrono::milliseconds timeout{5000};
    std::size_t max_request_bytes = 8192;
    std::size_t max_clients = 16;
};

class MetricsHttpServer {
public:
    using Render = std::function<std::string()>;

    // Binds `at` (an IP address; port 0 takes one from the kernel) and starts the thread. Throws
    // std::runtime_error naming the address when it cannot listen.
    MetricsHttpServer(const iscsi::Portal& at, Render render, MetricsHttpOptions options = {});
    // Stops the thread; connections in progress are dropped.
    ~MetricsHttpServer();
    MetricsHttpServer(const MetricsHttpServer&) = delete;
    MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

    asio::ip::tcp::endpoint local_endpoint() const;

private:
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(std::shared_ptr<asio::ip::tcp::socket> socket);
    std::string answer(const HttpRoute& route);

    asio::io_context io_{1};
    asio::ip::tcp::acceptor acceptor_;
    Render render_;
    MetricsHttpOptions options_;
    std::size_t clients_ = 0;  // on the server's thread only
    std::thread thread_;
};

}  // namespace iscsikit::control
