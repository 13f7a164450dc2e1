// ReceiveBuffer and SendBatch: PDUs split anywhere by the socket, growth for one large PDU,
// digests on both sides.
#include <gtest/gtest.h>

#include <cstring>

#include "iscsi/frame.hpp"
#include "iscsi/wire.hpp"

namespace iscsikit::iscsi {
namespace {

Bhs nop_in(std::uint32_t itt) {
    Bhs b;
    b.set_opcode(Opcode::nop_in);
    b.set_final(true);
    b.set_initiator_task_tag(itt);
    return b;
}

std::vector<std::byte> wire_of(const SendBatch& batch) {
    std::vector<OutSegment> segments;
    batch.segments(segments);
    std::vector<std::byte> out;
    for (auto s : segments) out.insert(out.end(), s.bytes.begin(), s.bytes.end());
    return out;
}

void feed(ReceiveBuffer& rx, ConstByteSpan bytes) {
    while (!bytes.empty()) {
        auto space = rx.space();
        const std::size_t n = std::min(space.size(), bytes.size());
        std::memcpy(space.data(), bytes.data(), n);
        rx.commit(n);
        bytes = bytes.subspan(n);
    }
}

TEST(Wire, SendBatchMatchesEncodePduWithAndWithoutDigests) {
    std::vector<std::byte> data(7, std::byte{0x5a});
    for (bool digests : {false, true}) {
        SendBatch batch;
        batch.add(nop_in(1), data, digests, digests);
        Pdu pdu;
        pdu.bhs = nop_in(1);
        pdu.data = data;
        std::vector<std::byte> expected;
        encode_pdu(pdu, digests, digests, expected);
        EXPECT_EQ(wire_of(batch), expected) << "digests " << digests;
    }
}

TEST(Wire, APduGatheredFromPiecesIsTheSameOnTheWire) {
    std::vector<std::byte> data(4096 * 3 - 1);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::byte(static_cast<unsigned char>(i * 7));
    const std::vector<ConstByteSpan> pieces{ConstByteSpan(data).subspan(0, 100), ConstByteSpan(data).subspan(100, 4000),
                                            ConstByteSpan(data).subspan(4100)};
    for (bool header_digest : {false, true}) {
        SendBatch gathered, whole;
        gathered.add_pieces(nop_in(3), pieces, header_digest);
        gathered.add(nop_in(4), {}, header_digest, false);  // the next PDU follows at once
        whole.add(nop_in(3), data, header_digest, false);
        whole.add(nop_in(4), {}, header_digest, false);
        EXPECT_EQ(wire_of(gathered), wire_of(whole)) << "header digest " << header_digest;
    }
}

TEST(Wire, ReceiveBufferYieldsPdusFedOneByteAtATime) {
    SendBatch batch;
    std::vector<std::byte> data(1000, std::byte{1});
    batch.add(nop_in(1), data, true, true);
    batch.add(nop_in(2), {}, true, true);
    const auto bytes = wire_of(batch);
    ReceiveBuffer rx(64);  // smaller than the first PDU: it has to grow
    const FrameLimits limits{8192, true, true};
    std::vector<std::uint32_t> seen;
    for (std::byte b : bytes) {
        feed(rx, ConstByteSpan(&b, 1));
        for (;;) {
            auto next = rx.next(limits);
            ASSERT_TRUE(next.has_value());
            if (!*next) break;
            EXPECT_TRUE((*next)->data_digest_ok);
            if ((*next)->bhs.initiator_task_tag() == 1) {
                EXPECT_EQ((*next)->data.size(), 1000u);
            }
            seen.push_back((*next)->bhs.initiator_task_tag());
        }
    }
    EXPECT_EQ(seen, (std::vector<std::uint32_t>{1, 2}));
}

TEST(Wire, ReceiveBufferReportsLimitAndDigestErrors) {
    SendBatch batch;
    std::vector<std::byte> data(600, std::byte{2});
    batch.add(nop_in(1), data, true, true);
    auto bytes = wire_of(batch);
    {
        ReceiveBuffer rx;
        feed(rx, bytes);
        auto next = rx.next(FrameLimits{512, true, true});
        ASSERT_FALSE(next.has_value());
        EXPECT_EQ(next.error(), FrameError::data_segment_too_long);
    }
    {
        auto corrupt = bytes;
        corrupt[kBhsLength + kDigestLength + 3] ^= std::byte{1};  // data byte: the data digest fails
        ReceiveBuffer rx;
        feed(rx, corrupt);
        auto next = rx.next(FrameLimits{8192, true, true});
        ASSERT_TRUE(next.has_value() && next->has_value());
        EXPECT_FALSE((*next)->data_digest_ok);
    }
    {
        auto corrupt = bytes;
        corrupt[20] ^= std::byte{1};  // header byte: the header digest fails
        ReceiveBuffer rx;
        feed(rx, corrupt);
        auto next = rx.next(FrameLimits{8192, true, true});
        ASSERT_FALSE(next.has_value());
        EXPECT_EQ(next.error(), FrameError::header_digest_mismatch);
    }
}

}  // namespace
}  // namespace iscsikit::iscsi
