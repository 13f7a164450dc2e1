// TCP and in-memory byte transports for the PDU channel.
#include "iscsi/transport.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <asio/error.hpp>
#include <asio/post.hpp>

namespace iscsikit::iscsi {

TcpTransport::TcpTransport(asio::ip::tcp::socket socket)
    : socket_(std::move(socket)), executor_(socket_.get_executor()) {
    std::error_code ignored;
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    // Asio makes the descriptor non-blocking at its first asynchronous operation; sendfile, which
    // takes no flags, needs it before that.
    socket_.native_non_blocking(true, ignored);
}

void TcpTransport::read_some(std::span<const ByteSpan> buffers, IoDone done) {
    const std::size_t n = std::min(buffers.size(), read_buffers_.size());
    for (std::size_t i = 0; i < n; ++i) read_buffers_[i] = asio::buffer(buffers[i].data(), buffers[i].size());
    socket_.async_read_some(std::span<asio::mutable_buffer>(read_buffers_.data(), n),
                            [done = std::move(done)](std::error_code ec, std::size_t got) mutable { done(ec, got); });
}

bool TcpTransport::write(std::span<const OutSegment> segments, IoDone done) {
    segments_.assign(segments.begin(), segments.end());
    segment_ = segment_offset_ = segments_sent_ = 0;
    std::error_code ec;
    if (send_now(ec)) return true;
    if (ec) {
        asio::post(executor_, [done = std::move(done), ec, sent = segments_sent_]() mutable { done(ec, sent); });
        return false;
    }
    send_when_room(std::move(done));
    return false;
}

void TcpTransport::advance(std::size_t n) {
    segments_sent_ += n;
    while (segment_ < segments_.size() && (n > 0 || segments_[segment_].bytes.size() == segment_offset_)) {
        const std::size_t left = segments_[segment_].bytes.size() - segment_offset_;
        if (n < left) {
            segment_offset_ += n;
            return;
        }
        n -= left;
        ++segment_;
        segment_offset_ = 0;
    }
}

bool TcpTransport::send_now(std::error_code& ec) {
    const int fd = socket_.native_handle();
    advance(0);  // past empty segments
    while (segment_ < segments_.size()) {
        const OutSegment& s = segments_[segment_];
        ssize_t n = 0;
        if (s.from_file()) {
            // The file's pages go into the socket by reference (sendfile(2)): no copy here; the
            // peer's read is the only one. The socket is non-blocking (see the constructor).
            auto offset = static_cast<off_t>(s.file.offset + segment_offset_);
            n = ::sendfile(fd, s.file.fd, &offset, s.bytes.size() - segment_offset_);
            if (n == 0) {  // the file ended early: truncated behind the store's back
                ec = std::make_error_code(std::errc::io_error);
                return false;
            }
        } else {
            // This memory segment and the ones after it, up to the next file segment, in one call.
            std::array<iovec, 64> iov{};
            std::size_t count = 0;
            bool file_follows = false;
            for (std::size_t i = segment_; i < segments_.size() && count < iov.size(); ++i) {
                if (segments_[i].from_file()) {
                    file_follows = true;
                    break;
                }
                const std::size_t skip = i == segment_ ? segment_offset_ : 0;
                iov[count].iov_base = const_cast<std::byte*>(segments_[i].bytes.data() + skip);
                iov[count].iov_len = segments_[i].bytes.size() - skip;
                ++count;
            }
            msghdr msg{};
            msg.msg_iov = iov.data();
            msg.msg_iovlen = count;
            // MSG_MORE: a header followed by file pages leaves in one segment with them.
            n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | (file_follows ? MSG_MORE : 0));
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return false;  // full
            ec = std::error_code(errno, std::system_category());
            return false;
        }
        advance(static_cast<std::size_t>(n));
    }
    return true;
}

void TcpTransport::send_when_room(IoDone done) {
    // The wait starts only after EAGAIN, so the edge that signals room is still to come (Asio's
    // reactor is edge-triggered). `done` (which keeps the channel, and so this transport, alive)
    // rides along.
    socket_.async_wait(asio::socket_base::wait_write, [this, done = std::move(done)](std::error_code ec) mutable {
        if (!ec && !send_now(ec) && !ec) return send_when_room(std::move(done));
        done(ec, segments_sent_);
    });
}

void TcpTransport::close() {
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

std::string TcpTransport::peer() const {
    std::error_code ec;
    const auto endpoint = socket_.remote_endpoint(ec);
    if (ec) return "(not connected)";
    const auto address = endpoint.address();
    return (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
           std::to_string(endpoint.port());
}

namespace {

// Bytes in flight in one direction: a buffer that grows to the largest backlog and is reused,
// so a steady exchange allocates nothing (the allocation tests count the target's threads).
class ByteQueue {
public:
    bool empty() const { return head_ == bytes_.size(); }
    std::size_t size() const { return bytes_.size() - head_; }
    void append(ConstByteSpan b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
    // Moves up to into.size() bytes out.
    std::size_t take(ByteSpan into) {
        const std::size_t n = std::min(into.size(), size());
        std::copy_n(bytes_.begin() + static_cast<std::ptrdiff_t>(head_), n, into.begin());
        head_ += n;
        if (head_ == bytes_.size()) {
            bytes_.clear();  // keeps the capacity
            head_ = 0;
        }
        return n;
    }
    void clear() {
        bytes_.clear();
        head_ = 0;
    }

private:
    std::vector<std::byte> bytes_;
    std::size_t head_ = 0;
};

// One direction of the pipe and the read waiting on it.
struct Direction {
    ByteQueue bytes;
    bool writer_closed = false;
    bool reader_closed = false;
    struct PendingRead {
        std::array<ByteSpan, 4> buffers;
        std::size_t count = 0;
        IoDone done;
        asio::any_io_executor executor;
    };
    std::optional<PendingRead> waiting;
};

struct PipeState {
    std::mutex mutex;
    Direction to[2];  // to[i]: bytes end i reads
    MemoryPipeOptions options;
};

class PipeEnd final : public ByteTransport {
public:
    PipeEnd(std::shared_ptr<PipeState> state, int side, asio::any_io_executor executor)
        : state_(std::move(state)), side_(side), executor_(std::move(executor)) {}
    ~PipeEnd() override { close(); }

    asio::any_io_executor executor() const override { return executor_; }

    void read_some(std::span<const ByteSpan> buffers, IoDone done) override {
        std::lock_guard lock(state_->mutex);
        Direction& in = state_->to[side_];
        Direction::PendingRead read;
        read.count = std::min(buffers.size(), read.buffers.size());
        std::copy_n(buffers.begin(), read.count, read.buffers.begin());
        read.done = std::move(done);
        read.executor = executor_;
        in.waiting = std::move(read);
        serve(in, state_->options);
    }

    // Takes every byte at once (the pipe has no bound), as a socket with room does.
    bool write(std::span<const OutSegment> buffers, IoDone done) override {
        {
            std::lock_guard lock(state_->mutex);
            Direction& out = state_->to[1 - side_];
            if (!out.writer_closed && !out.reader_closed) {
                for (const auto& b : buffers) out.bytes.append(b.bytes);
                serve(out, state_->options);
                return true;
            }
        }
        asio::post(executor_, [done = std::move(done)]() mutable { done(asio::error::broken_pipe, 0); });
        return false;
    }

    void close() override {
        std::lock_guard lock(state_->mutex);
        Direction& in = state_->to[side_];
        Direction& out = state_->to[1 - side_];
        if (in.reader_closed) return;
        in.reader_closed = true;
        out.writer_closed = true;
        in.bytes.clear();
        if (in.waiting) complete(in, asio::error::operation_aborted, 0);
        serve(out, state_->options);  // the peer's waiting read sees the end of the stream
    }

    std::string peer() const override { return "pipe"; }

private:
    static void complete(Direction& d, std::error_code ec, std::size_t n) {
        auto read = std::move(*d.waiting);
        d.waiting.reset();
        asio::post(read.executor, [done = std::move(read.done), ec, n]() mutable { done(ec, n); });
    }

    // Satisfies the waiting read of `d` if bytes (or the end of the stream) are there.
    static void serve(Direction& d, const MemoryPipeOptions& options) {
        if (!d.waiting) return;
        if (d.reader_closed) return complete(d, asio::error::operation_aborted, 0);
        if (d.bytes.empty()) {
            if (d.writer_closed) complete(d, asio::error::eof, 0);
            return;
        }
        std::size_t limit = options.max_read ? options.max_read : d.bytes.size();
        std::size_t moved = 0;
        for (std::size_t i = 0; i < d.waiting->count && limit > 0 && !d.bytes.empty(); ++i) {
            ByteSpan into = d.waiting->buffers[i];
            const std::size_t n = d.bytes.take(into.first(std::min(into.size(), limit)));
            moved += n;
            limit -= n;
        }
        if (moved) complete(d, {}, moved);
    }

    std::shared_ptr<PipeState> state_;
    int side_;
    asio::any_io_executor executor_;
};

}  // namespace

std::pair<std::unique_ptr<ByteTransport>, std::unique_ptr<ByteTransport>> make_memory_pipe(asio::any_io_executor a,
                                                                                           asio::any_io_executor b,
                                                                                           MemoryPipeOptions options) {
    auto state = std::make_shared<PipeState>();
    state->options = options;
    return {std::make_unique<PipeEnd>(state, 0, std::move(a)), std::make_unique<PipeEnd>(state, 1, std::move(b))};
}

}  // namespace iscsikit::iscsi
