// The PDU channel over an in-memory pipe: framing across any read boundary, data placed in the
// handler's destination, digests, limits, the login-phase receive and gathered sends.
#include "iscsi/channel.hpp"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "iscsi/frame.hpp"

namespace iscsikit::iscsi {
namespace {

using namespace std::chrono_literals;

Bhs data_out(std::uint32_t itt, std::uint32_t offset) {
    Bhs b;
    b.set_opcode(Opcode::data_out);
    b.set_final(true);
    b.set_initiator_task_tag(itt);
    DataOutView{b}.set_buffer_offset(offset);
    return b;
}

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<unsigned char>(i * 31 + seed));
    return v;
}

std::vector<std::byte> wire(const Bhs& bhs, const std::vector<std::byte>& data, bool header_digest = false,
                            bool data_digest = false) {
    Pdu pdu;
    pdu.bhs = bhs;
    pdu.data = data;
    std::vector<std::byte> out;
    encode_pdu(pdu, header_digest, data_digest, out);
    return out;
}

// Records what the channel hands over; optionally places Data-Out data in `buffer`.
struct Recorder : ChannelHandler {
    struct Got {
        std::uint32_t itt;
        std::vector<std::byte> data;
        bool placed;
        bool digest_ok;
    };
    std::vector<Got> got;
    std::vector<std::byte> buffer;
    bool place = false;
    std::optional<CloseReason> closed;

    DataDestination data_destination(const Bhs& bhs, std::uint32_t length) override {
        const std::uint32_t offset = DataOutView{bhs}.buffer_offset();
        if (!place || bhs.opcode() != Opcode::data_out || offset + length > buffer.size()) return {};
        return {ByteSpan(buffer.data() + offset, length), {}};
    }
    Result<void> on_pdu(const ReceivedPdu& pdu) override {
        const bool placed =
            !buffer.empty() && pdu.data.data() >= buffer.data() && pdu.data.data() < buffer.data() + buffer.size();
        got.push_back({pdu.bhs.initiator_task_tag(), {pdu.data.begin(), pdu.data.end()}, placed, pdu.data_digest_ok});
        return {};
    }
    void on_closed(const CloseReason& reason) override { closed = reason; }
};

struct ChannelTest : ::testing::TestWithParam<std::size_t> {
    asio::io_context io;
    std::unique_ptr<ByteTransport> peer;
    std::shared_ptr<Channel> channel;

    void SetUp() override {
        auto [a, b] = make_memory_pipe(io.get_executor(), io.get_executor(), {GetParam()});
        channel = std::make_shared<Channel>(std::move(a), 4096);
        peer = std::move(b);
    }
    // Runs the executor until `done` holds (no fixed time window: byte-by-byte reads under a
    // sanitizer are slow); gives up after 60 s so that a bug fails instead of hanging.
    template <class Done>
    void run_until(Done done) {
        const auto deadline = Clock::now() + std::chrono::seconds(60);
        io.restart();
        while (!done() && Clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(50));
    }
    void peer_write(const std::vector<std::byte>& bytes) {
        auto copy = std::make_shared<std::vector<std::byte>>(bytes);
        auto segment = std::make_shared<OutSegment>(OutSegment{ConstByteSpan(copy->data(), copy->size()), {}});
        (void)peer->write(std::span<const OutSegment>(segment.get(), 1),
                          [copy, segment](std::error_code, std::size_t) {});
    }
    std::vector<std::byte> peer_read_all() {
        std::vector<std::byte> out;
        std::vector<std::byte> chunk(1 << 16);
        bool done = false;
        std::function<void()> again = [&] {
            ByteSpan into(chunk);
            peer->read_some(std::span<const ByteSpan>(&into, 1), [&](std::error_code ec, std::size_t n) {
                if (ec) {
                    done = true;
                    return;
                }
                out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
                again();
            });
        };
        again();
        run_until([&] { return done; });
        return out;
    }
};

// Read bounds: 1 (byte by byte), 7 (splits every field), 0 (whatever is there).
INSTANTIATE_TEST_SUITE_P(ReadSizes, ChannelTest, ::testing::Values(std::size_t{1}, std::size_t{7}, std::size_t{0}));

TEST_P(ChannelTest, FramesEveryPduWhateverTheReadBoundaries) {
    Recorder rec;
    channel->set_limits({1 << 20, true, true});
    channel->start(rec);
    auto a = pattern(5, 1), b = pattern(70000, 2);
    std::vector<std::byte> bytes = wire(data_out(1, 0), a, true, true);
    auto second = wire(data_out(2, 0), b, true, true);
    auto third = wire(data_out(3, 0), {}, true, true);
    bytes.insert(bytes.end(), second.begin(), second.end());
    bytes.insert(bytes.end(), third.begin(), third.end());
    peer_write(bytes);
    run_until([&] { return rec.got.size() >= 3 || rec.closed; });
    ASSERT_EQ(rec.got.size(), 3u);
    EXPECT_EQ(rec.got[0].data, a);
    EXPECT_EQ(rec.got[1].data, b);
    EXPECT_TRUE(rec.got[2].data.empty());
    for (const auto& g : rec.got) EXPECT_TRUE(g.digest_ok);
    EXPECT_FALSE(rec.closed);
}

TEST_P(ChannelTest, DataSegmentIsReceivedStraightIntoTheHandlersDestination) {
    Recorder rec;
    rec.place = true;
    rec.buffer.resize(300000);
    channel->set_limits({1 << 18, false, true});
    channel->start(rec);
    // Two Data-Outs larger than the channel's own 4 KiB buffer, and a NOP between them that the
    // handler does not place.
    auto first = pattern(262144, 3), second = pattern(37001, 4);
    Bhs nop;
    nop.set_opcode(Opcode::nop_out);
    nop.set_initiator_task_tag(9);
    std::vector<std::byte> bytes = wire(data_out(1, 0), first, false, true);
    auto mid = wire(nop, pattern(10, 5), false, true);
    auto last = wire(data_out(1, 262144), second, false, true);
    bytes.insert(bytes.end(), mid.begin(), mid.end());
    bytes.insert(bytes.end(), last.begin(), last.end());
    peer_write(bytes);
    run_until([&] { return rec.got.size() >= 3 || rec.closed; });
    ASSERT_EQ(rec.got.size(), 3u);
    EXPECT_TRUE(rec.got[0].placed);
    EXPECT_FALSE(rec.got[1].placed);
    EXPECT_TRUE(rec.got[2].placed);
    EXPECT_EQ(rec.got[1].data, pattern(10, 5));
    EXPECT_TRUE(std::equal(first.begin(), first.end(), rec.buffer.begin()));
    EXPECT_TRUE(std::equal(second.begin(), second.end(), rec.buffer.begin() + 262144));
    for (const auto& g : rec.got) EXPECT_TRUE(g.digest_ok);
}

// Small segments stay in the channel's buffer even when the handler would place them: many of
// them arrive in one read, where placing each would cost a read per PDU.
TEST_P(ChannelTest, DataSegmentsBelowThePlacementMinimumAreNotPlaced) {
    Recorder rec;
    rec.place = true;
    rec.buffer.resize(1 << 16);
    channel->set_limits({1 << 16, false, false});
    channel->start(rec);
    const auto small = pattern(Channel::kMinPlacedSegment - 4, 8), large = pattern(Channel::kMinPlacedSegment, 9);
    std::vector<std::byte> bytes = wire(data_out(1, 0), small);
    auto second = wire(data_out(1, Channel::kMinPlacedSegment), large);
    bytes.insert(bytes.end(), second.begin(), second.end());
    peer_write(bytes);
    run_until([&] { return rec.got.size() >= 2 || rec.closed; });
    ASSERT_EQ(rec.got.size(), 2u);
    EXPECT_FALSE(rec.got[0].placed);
    EXPECT_EQ(rec.got[0].data, small);
    EXPECT_TRUE(rec.got[1].placed);
    EXPECT_EQ(rec.got[1].data, large);
}

TEST_P(ChannelTest, PlacedDataWithABadDigestIsReportedAsSuch) {
    Recorder rec;
    rec.place = true;
    rec.buffer.resize(32768);
    channel->set_limits({32768, false, true});
    channel->start(rec);
    auto bytes = wire(data_out(1, 0), pattern(20002, 6), false, true);
    bytes[kBhsLength + 100] ^= std::byte{1};
    auto next = wire(data_out(2, 0), {}, false, true);
    bytes.insert(bytes.end(), next.begin(), next.end());
    peer_write(bytes);
    run_until([&] { return rec.got.size() >= 2 || rec.closed; });
    ASSERT_EQ(rec.got.size(), 2u);
    EXPECT_TRUE(rec.got[0].placed);
    EXPECT_FALSE(rec.got[0].digest_ok);
    EXPECT_TRUE(rec.got[1].digest_ok);  // the stream stays in step
}

TEST_P(ChannelTest, DataSegmentOverTheLimitClosesAsAPeerError) {
    Recorder rec;
    channel->set_limits({8192, false, false});
    channel->start(rec);
    peer_write(wire(data_out(1, 0), pattern(8196, 7)));
    run_until([&] { return rec.closed.has_value(); });
    EXPECT_TRUE(rec.got.empty());
    ASSERT_TRUE(rec.closed);
    EXPECT_TRUE(rec.closed->peer_error);
    EXPECT_NE(rec.closed->why.find("longer than our limit 8192"), std::string::npos) << rec.closed->why;
}

TEST_P(ChannelTest, HeaderDigestMismatchClosesAsAPeerError) {
    Recorder rec;
    channel->set_limits({8192, true, false});
    channel->start(rec);
    auto bytes = wire(data_out(1, 0), pattern(100, 8), true, false);
    bytes[kBhsLength] ^= std::byte{0x80};  // the digest itself
    peer_write(bytes);
    run_until([&] { return rec.closed.has_value(); });
    EXPECT_TRUE(rec.got.empty());
    ASSERT_TRUE(rec.closed);
    EXPECT_EQ(rec.closed->why, "header digest mismatch");
}

TEST_P(ChannelTest, LoginReceiveReturnsWholePdusThenTimesOut) {
    std::vector<Result<Pdu>> results;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            results.push_back(co_await channel->receive(Clock::now() + 5s));
            results.push_back(co_await channel->receive(Clock::now() + 100ms));
        },
        asio::detached);
    peer_write(wire(data_out(4, 0), pattern(300, 9)));
    run_until([&] { return results.size() >= 2; });
    ASSERT_EQ(results.size(), 2u);
    ASSERT_TRUE(results[0]) << results[0].error().message;
    EXPECT_EQ(results[0]->bhs.initiator_task_tag(), 4u);
    EXPECT_EQ(results[0]->data, pattern(300, 9));
    ASSERT_FALSE(results[1]);
    EXPECT_EQ(results[1].error().code, ChannelErrc::timed_out);
    EXPECT_TRUE(channel->closed());
}

TEST_P(ChannelTest, EverythingQueuedInOneTurnIsWrittenInOrderThenWhenSentRuns) {
    channel->set_limits({8192, true, true});
    std::vector<std::byte> expected;
    for (std::uint32_t itt = 1; itt <= 3; ++itt) {
        auto data = pattern(itt * 3, itt);
        channel->send_copy(data_out(itt, 0), data);
        auto w = wire(data_out(itt, 0), data, true, true);
        expected.insert(expected.end(), w.begin(), w.end());
    }
    bool sent = false;
    channel->when_sent([&] { sent = true; });
    channel->close_after_send({"done"});
    EXPECT_FALSE(channel->closed());
    auto got = peer_read_all();
    EXPECT_EQ(got, expected);
    EXPECT_TRUE(sent);
    EXPECT_TRUE(channel->closed());
}

TEST_P(ChannelTest, PeerClosingEndsTheChannelOnce) {
    Recorder rec;
    channel->start(rec);
    peer->close();
    run_until([&] { return rec.closed.has_value(); });
    ASSERT_TRUE(rec.closed);
    EXPECT_FALSE(rec.closed->peer_error);
    channel->close({"again"});
    EXPECT_EQ(rec.closed->why, kPeerClosed);
}

}  // namespace
}  // namespace iscsikit::iscsi
