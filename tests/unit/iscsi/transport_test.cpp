// TcpTransport over a real loopback connection: writes with file segments, which go out by
// sendfile and must arrive whole and in order even when the socket fills up many times, and
// fail cleanly when the peer goes away.
#include "iscsi/transport.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>

namespace iscsikit::iscsi {
namespace {

using asio::ip::tcp;

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<unsigned char>(i * 13 + seed + i / 4096));
    return v;
}

// An unlinked temporary file holding `bytes`.
struct TempFile {
    int fd = -1;
    explicit TempFile(const std::vector<std::byte>& bytes) {
        char name[] = "/tmp/iscsikit-transport-XXXXXX";
        fd = ::mkstemp(name);
        if (fd < 0) return;
        ::unlink(name);
        if (::pwrite(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
            ::close(fd);
            fd = -1;
        }
    }
    ~TempFile() {
        if (fd >= 0) ::close(fd);
    }
};

// A connected pair on 127.0.0.1 with small socket buffers, so that big writes meet a full socket.
struct Connected {
    asio::io_context io;
    tcp::socket sender{io}, receiver{io};
    Connected() {
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        receiver.connect(acceptor.local_endpoint());
        sender = acceptor.accept();
        // Fixed sizes (no autotuning) far below what the tests write. Much smaller ones make
        // loopback TCP crawl on zero-window probes.
        sender.set_option(asio::socket_base::send_buffer_size(64 * 1024));
        receiver.set_option(asio::socket_base::receive_buffer_size(64 * 1024));
    }
    // Runs the executor until `result` is set; gives up after 60 s so that a bug fails instead of hanging.
    template <class T>
    void run_until_set(const std::optional<T>& result) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        io.restart();
        while (!result && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(50));
    }
};

using WriteResult = std::optional<std::pair<std::error_code, std::size_t>>;

// Bytes named by a file segment are sent from the file. The segment's `bytes` here are zeros of
// the same length, so the reader can tell where the bytes it got came from.
TEST(TcpTransport, FileSegmentsArriveWholeAndInOrderThroughAFullSocket) {
    const auto file_bytes = pattern(3u << 20, 1);
    TempFile file(file_bytes);
    ASSERT_GE(file.fd, 0);
    const std::vector<std::byte> zeros(file_bytes.size());
    const auto header = pattern(48, 2), trailer = pattern(4, 3), between = pattern(100, 4), tail = pattern(10, 5);

    const std::size_t first_at = 4096, first_length = 1u << 20, second_at = 2u << 20, second_length = 200 * 1024;
    std::vector<OutSegment> segments{
        {header, {}},
        {ConstByteSpan(zeros.data(), first_length), FileRange{file.fd, first_at}},
        {trailer, {}},
        {between, {}},
        {ConstByteSpan(zeros.data(), second_length), FileRange{file.fd, second_at}},
        {ConstByteSpan{}, {}},  // an empty segment is skipped
        {tail, {}},
    };
    std::vector<std::byte> expected;
    auto append = [&](ConstByteSpan b) { expected.insert(expected.end(), b.begin(), b.end()); };
    append(header);
    append(ConstByteSpan(file_bytes.data() + first_at, first_length));
    append(trailer);
    append(between);
    append(ConstByteSpan(file_bytes.data() + second_at, second_length));
    append(tail);

    Connected c;
    TcpTransport transport(std::move(c.sender));
    WriteResult result;
    ASSERT_FALSE(transport.write(segments, [&](std::error_code ec, std::size_t n) { result.emplace(ec, n); }))
        << "the write did not fill the socket: the test does not test waiting for room";
    EXPECT_FALSE(result) << "completions run on the executor, never inside write()";
    c.io.poll();
    ASSERT_FALSE(result) << "the write did not fill the socket: the test does not test waiting for room";
    std::vector<std::byte> received(expected.size());
    std::thread reader([&] {
        // Small reads, so the sender finds the socket full again and again.
        for (std::size_t at = 0; at < received.size();) {
            std::error_code ec;
            const std::size_t n = c.receiver.read_some(
                asio::buffer(received.data() + at, std::min<std::size_t>(8192, received.size() - at)), ec);
            if (ec) return;
            at += n;
        }
    });
    c.run_until_set(result);
    reader.join();
    ASSERT_TRUE(result);
    EXPECT_EQ(result->first, std::error_code{});
    EXPECT_EQ(result->second, expected.size());
    EXPECT_TRUE(received == expected) << "the bytes arrived changed, out of order, or from the segments' memory";
}

// A write without file segments is one gathered write, as before.
TEST(TcpTransport, MemorySegmentsAreWrittenInOrder) {
    const auto a = pattern(70000, 6), b = pattern(3, 7), d = pattern(5000, 8);
    std::vector<OutSegment> segments{{a, {}}, {b, {}}, {d, {}}};
    std::vector<std::byte> expected(a);
    expected.insert(expected.end(), b.begin(), b.end());
    expected.insert(expected.end(), d.begin(), d.end());

    Connected c;
    TcpTransport transport(std::move(c.sender));
    std::vector<std::byte> received(expected.size());
    std::thread reader([&] {
        std::error_code ec;
        asio::read(c.receiver, asio::buffer(received), ec);
    });
    WriteResult result;
    if (!transport.write(segments, [&](std::error_code ec, std::size_t n) { result.emplace(ec, n); })) {
        c.run_until_set(result);
        ASSERT_TRUE(result);
        EXPECT_EQ(result->first, std::error_code{});
        EXPECT_EQ(result->second, expected.size());
    }
    reader.join();
    EXPECT_TRUE(received == expected);
}

// What the socket takes at once is written in the call: write() says so and never runs the
// completion, so the channel goes on with no turn of the executor (and no poll) in between.
TEST(TcpTransport, AWriteTheSocketTakesAtOnceCompletesInTheCall) {
    const auto header = pattern(48, 10), data = pattern(4096, 11);
    std::vector<OutSegment> segments{{header, {}}, {data, {}}};
    Connected c;
    TcpTransport transport(std::move(c.sender));
    bool ran = false;
    EXPECT_TRUE(transport.write(segments, [&](std::error_code, std::size_t) { ran = true; }));
    c.io.poll();
    EXPECT_FALSE(ran) << "a write that finished at once also ran its completion";
    std::vector<std::byte> received(header.size() + data.size());
    std::error_code ec;
    asio::read(c.receiver, asio::buffer(received), ec);
    ASSERT_FALSE(ec);
    EXPECT_TRUE(std::equal(header.begin(), header.end(), received.begin()));
    EXPECT_TRUE(std::equal(data.begin(), data.end(), received.begin() + static_cast<std::ptrdiff_t>(header.size())));
}

// A write on a closed socket fails through its completion, on the executor.
TEST(TcpTransport, AWriteOnAClosedSocketFailsThroughItsCompletion) {
    const auto data = pattern(100, 12);
    std::vector<OutSegment> segments{{data, {}}};
    Connected c;
    TcpTransport transport(std::move(c.sender));
    transport.close();
    WriteResult result;
    EXPECT_FALSE(transport.write(segments, [&](std::error_code ec, std::size_t n) { result.emplace(ec, n); }));
    EXPECT_FALSE(result) << "completions run on the executor, never inside write()";
    c.run_until_set(result);
    ASSERT_TRUE(result);
    EXPECT_TRUE(result->first);
    EXPECT_EQ(result->second, 0U);
}

// The peer goes away in the middle of a file segment: the write ends with an error (the target
// then closes the connection); it neither hangs nor kills the process. sendfile has no
// MSG_NOSIGNAL, so the process ignores SIGPIPE, as the daemon does.
TEST(TcpTransport, AFileSegmentToAPeerThatLeftFailsTheWrite) {
    const auto previous = std::signal(SIGPIPE, SIG_IGN);
    const auto file_bytes = pattern(8u << 20, 9);
    TempFile file(file_bytes);
    ASSERT_GE(file.fd, 0);
    std::vector<OutSegment> segments{{ConstByteSpan(file_bytes), FileRange{file.fd, 0}}};

    Connected c;
    TcpTransport transport(std::move(c.sender));
    WriteResult result;
    ASSERT_FALSE(transport.write(segments, [&](std::error_code ec, std::size_t n) { result.emplace(ec, n); }));
    std::vector<std::byte> some(4096);
    std::error_code ec;
    asio::read(c.receiver, asio::buffer(some), ec);  // the write has begun
    ASSERT_FALSE(ec);
    c.receiver.set_option(asio::socket_base::linger(true, 0));  // a reset, not an orderly close
    c.receiver.close();
    c.run_until_set(result);
    std::signal(SIGPIPE, previous);
    ASSERT_TRUE(result) << "the write never completed";
    EXPECT_TRUE(result->first) << "a write to a reset connection reported success";
    EXPECT_LT(result->second, file_bytes.size());
}

// The in-memory pipe behaves as a socket with room: a write is taken in the call, and one to
// an end that closed fails through its completion.
TEST(MemoryPipe, WritesCompleteInTheCallUntilThePeerCloses) {
    asio::io_context io;
    auto [a, b] = make_memory_pipe(io.get_executor(), io.get_executor());
    const auto data = pattern(5000, 13);
    std::vector<OutSegment> segments{{data, {}}};
    bool ran = false;
    EXPECT_TRUE(a->write(segments, [&](std::error_code, std::size_t) { ran = true; }));
    std::vector<std::byte> received(data.size());
    std::optional<std::pair<std::error_code, std::size_t>> read;
    const ByteSpan into(received);
    b->read_some(std::span<const ByteSpan>(&into, 1), [&](std::error_code ec, std::size_t n) { read.emplace(ec, n); });
    io.run();
    EXPECT_FALSE(ran);
    ASSERT_TRUE(read);
    EXPECT_EQ(read->second, data.size());
    EXPECT_TRUE(received == data);

    b->close();
    WriteResult result;
    EXPECT_FALSE(a->write(segments, [&](std::error_code ec, std::size_t n) { result.emplace(ec, n); }));
    EXPECT_FALSE(result) << "completions run on the executor, never inside write()";
    io.restart();
    io.run();
    ASSERT_TRUE(result);
    EXPECT_EQ(result->first, asio::error::broken_pipe);
}

}  // namespace
}  // namespace iscsikit::iscsi
