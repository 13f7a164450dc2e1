// The management socket: JSON-RPC 2.0 over a Unix stream socket, one request per line, one
// response per line (docs/management.md). Created mode 0660 (group `group` when given), on a
// thread of its own; a line longer than 1 MiB or a client silent for 5 minutes is dropped.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>

#include "control/admin.hpp"

namespace iscsikit::control {

class RpcServer {
public:
    // Binds and listens on `path` (a stale socket file nobody listens on is replaced; a live one
    // is an error). Throws std::runtime_error naming the path when it cannot. Clients that
    // connect before start() wait in the listen backlog.
    RpcServer(AdminContext context, std::string path, const std::string& group);
    // Starts the thread that answers requests.
    void start();
    ~RpcServer();  // stops the thread and removes the socket file
    RpcServer(const RpcServer&) = delete;
    RpcServer& operator=(const RpcServer&) = delete;

private:
    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(asio::local::stream_protocol::socket socket);

    AdminContext context_;
    std::string path_;
    asio::io_context io_{1};
    asio::local::stream_protocol::acceptor acceptor_;
    std::thread thread_;
};

}  // namespace iscsikit::control
