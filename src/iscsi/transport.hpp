// The byte stream a PDU channel runs over (RFC 7143 §4: iSCSI over one TCP connection). The
// channel needs four things of it: scattered reads, gathered writes, close, and an executor that
// runs the completions. TCP (Asio) serves production; a pair of in-memory pipe ends serves tests,
// which then drive either role's protocol code in-process, with no socket and no timing window.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

#include "core/bytes.hpp"
#include "core/callback.hpp"

namespace iscsikit::iscsi {

// (error, bytes transferred); runs on the transport's executor, never inside the initiating call.
// A write that finishes at once does not call it at all (see ByteTransport::write).
using IoDone = Callback<void(std::error_code, std::size_t)>;

// One range of bytes to write. When `file` is set the same bytes also lie in that file: a
// transport that can send file pages by reference (TCP: sendfile) sends them from there, with
// no copy of its own; any other writes `bytes`.
struct OutSegment {
    ConstByteSpan bytes;
    FileRange file;
    // Whether a transport that can should send this segment from the file.
    bool from_file() const { return file && !bytes.empty(); }
};

class ByteTransport {
public:
    virtual ~ByteTransport() = default;

    virtual asio::any_io_executor executor() const = 0;
    // Reads at least one byte into `buffers`, filling them in order (at most 4 buffers). End of
    // stream completes with asio::error::eof. The buffers must stay valid until completion.
    virtual void read_some(std::span<const ByteSpan> buffers, IoDone done) = 0;
    // Writes every byte of `segments`, in order. Returns true when the transport took them all at
    // once, in this call: `done` is then dropped uncalled, and the caller goes on inline (no turn
    // of the executor, and so no poll of the reactor, between a response and the next read).
    // Otherwise returns false and `done` runs on the executor once everything is written or the
    // write failed; until then the segments and the bytes (and files) they name must stay valid.
    [[nodiscard]] virtual bool write(std::span<const OutSegment> segments, IoDone done) = 0;
    // Ends both directions; outstanding operations complete with an error. Idempotent.
    virtual void close() = 0;
    // The peer, for log lines ("192.0.2.1:3260", "pipe").
    virtual std::string peer() const = 0;
};

class TcpTransport final : public ByteTransport {
public:
    explicit TcpTransport(asio::ip::tcp::socket socket);

    asio::any_io_executor executor() const override { return executor_; }
    void read_some(std::span<const ByteSpan> buffers, IoDone done) override;
    bool write(std::span<const OutSegment> segments, IoDone done) override;
    void close() override;
    std::string peer() const override;

    asio::ip::tcp::socket& socket() { return socket_; }

private:
    // Sends what the socket takes now: sendmsg for runs of memory segments, sendfile for file
    // ones. True when everything is sent; false when the socket is full (`ec` clear) or a call
    // failed (`ec` set).
    bool send_now(std::error_code& ec);
    // Waits for room in the socket, sends on, and runs `done` when all is sent or a call failed.
    void send_when_room(IoDone done);
    void advance(std::size_t n);

    asio::ip::tcp::socket socket_;
    asio::any_io_executor executor_;
    std::array<asio::mutable_buffer, 4> read_buffers_;
    std::vector<OutSegment> segments_;  // of the write under way; reused: no allocation once warm
    std::size_t segment_ = 0, segment_offset_ = 0, segments_sent_ = 0;
};

// Two connected in-memory ends: what one writes, the other reads. Completions are posted to each
// end's executor, as a socket's would be. `max_read` bounds every read (1 delivers byte by byte,
// to test framing across arbitrary boundaries).
struct MemoryPipeOptions {
    std::size_t max_read = 0;  // 0: no bound
};
std::pair<std::unique_ptr<ByteTransport>, std::unique_ptr<ByteTransport>> make_memory_pipe(
    asio::any_io_executor a, asio::any_io_executor b, MemoryPipeOptions options = {});

}  // namespace iscsikit::iscsi
