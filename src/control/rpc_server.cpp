#include "control/rpc_server.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read_until.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace iscsikit::control {
namespace {

constexpr std::size_t kMaxLine = std::size_t{1} << 20;
constexpr auto kIdle = std::chrono::minutes(5);

// A socket file left by a daemon that died: connecting to it fails with ECONNREFUSED.
bool someone_listens(const std::string& path) {
    asio::io_context io;
    asio::local::stream_protocol::socket probe(io);
    std::error_code ec;
    probe.connect(asio::local::stream_protocol::endpoint(path), ec);
    return !ec;
}

}  // namespace

RpcServer::RpcServer(AdminContext context, std::string path, const std::string& group)
    : context_(std::move(context)), path_(std::move(path)), acceptor_(io_) {
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error(fmt::format("rpc socket {}: a file that is not a socket is in the way", path_));
        if (someone_listens(path_))
            throw std::runtime_error(fmt::format("rpc socket {}: another daemon listens on it", path_));
        ::unlink(path_.c_str());
    }
    std::error_code ec;
    const asio::local::stream_protocol::endpoint endpoint(path_);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error(fmt::format("rpc socket {}: {}", path_, ec.message()));
    // Mode 0660: the daemon's user and the management group, nobody else.
    gid_t gid = static_cast<gid_t>(-1);
    if (!group.empty()) {
        const struct group* g = ::getgrnam(group.c_str());
        if (g == nullptr) {
            ::unlink(path_.c_str());
            throw std::runtime_error(fmt::format("rpc socket {}: no group named '{}'", path_, group));
        }
        gid = g->gr_gid;
    }
    if (::chmod(path_.c_str(), 0660) != 0 || (gid != static_cast<gid_t>(-1) && ::chown(path_.c_str(), -1, gid) != 0)) {
        const int error = errno;
        ::unlink(path_.c_str());
        throw std::runtime_error(fmt::format("rpc socket {}: {}", path_, std::strerror(error)));
    }
}

void RpcServer::start() {
    if (thread_.joinable()) return;
    spdlog::info("management socket on {}", path_);
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
}

RpcServer::~RpcServer() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
    ::unlink(path_.c_str());
}

asio::awaitable<void> RpcServer::accept_loop() {
    for (;;) {
        std::error_code ec;
        auto socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) {
            spdlog::warn("management socket: accept failed: {}", ec.message());
            continue;
        }
        asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> RpcServer::serve(asio::local::stream_protocol::socket socket) {
    using namespace asio::experimental::awaitable_operators;
    asio::streambuf buffer(kMaxLine);
    asio::steady_timer idle(io_);
    for (;;) {
        std::error_code ec;
        idle.expires_after(kIdle);
        auto got =
            co_await (asio::async_read_until(socket, buffer, '\n', asio::redirect_error(asio::use_awaitable, ec)) ||
                      idle.async_wait(asio::use_awaitable));
        if (got.index() == 1) co_return;  // silent too long
        if (ec) {
            if (ec == asio::error::not_found)  // the line outgrew kMaxLine
                spdlog::warn("management socket: a request longer than {} bytes; connection dropped", kMaxLine);
            co_return;
        }
        const std::size_t length = std::get<0>(got);
        std::string line(asio::buffers_begin(buffer.data()), asio::buffers_begin(buffer.data()) + length);
        buffer.consume(length);
        std::string answer = handle_line(context_, line);
        if (answer.empty()) continue;
        answer += '\n';
        co_await asio::async_write(socket, asio::buffer(answer), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
    }
}

}  // namespace iscsikit::control
