// CRC32C against the iSCSI test vectors of RFC 3720 Appendix B.4 (kept by RFC 7143), and the byte
// order in which the digest goes on the wire.
#include "core/crc32c.hpp"

#include <array>
#include <vector>

#include <gtest/gtest.h>

namespace iscsikit {
namespace {

std::vector<std::byte> filled(std::size_t n, std::uint8_t v) { return std::vector<std::byte>(n, std::byte{v}); }

TEST(Crc32c, Rfc3720VectorThirtyTwoZeroBytes) { EXPECT_EQ(crc32c(filled(32, 0x00)), 0x8a9136aau); }

TEST(Crc32c, Rfc3720VectorThirtyTwoOnesBytes) { EXPECT_EQ(crc32c(filled(32, 0xff)), 0x62a8ab43u); }

TEST(Crc32c, Rfc3720VectorIncrementingBytes) {
    std::vector<std::byte> b(32);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::byte(i);
    EXPECT_EQ(crc32c(b), 0x46dd794eu);
}

TEST(Crc32c, Rfc3720VectorDecrementingBytes) {
    std::vector<std::byte> b(32);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::byte(31 - i);
    EXPECT_EQ(crc32c(b), 0x113fdb5cu);
}

// RFC 3720 B.4: an iSCSI SCSI Read (10) command PDU, 48 bytes.
constexpr std::array<std::uint8_t, 48> kReadCommandPdu{
    0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
    0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

std::vector<std::byte> read_command_pdu() {
    std::vector<std::byte> b;
    for (auto v : kReadCommandPdu) b.push_back(std::byte{v});
    return b;
}

TEST(Crc32c, Rfc3720VectorReadCommandPdu) { EXPECT_EQ(crc32c(read_command_pdu()), 0xd9963a56u); }

TEST(Crc32c, RunningCrcOverPiecesEqualsWholeCrc) {
    const auto pdu = read_command_pdu();
    const ConstByteSpan all(pdu);
    std::uint32_t running = kCrc32cInit;
    running = crc32c_update(running, all.first(5));
    running = crc32c_update(running, all.subspan(5, 0));
    running = crc32c_update(running, all.subspan(5));
    EXPECT_EQ(crc32c_finish(running), 0xd9963a56u);
}

TEST(Crc32c, EmptyInputIsZero) { EXPECT_EQ(crc32c(ConstByteSpan{}), 0u); }

TEST(Crc32c, StoreDigestWritesLeastSignificantByteFirst) {
    // RFC 3720 B.4 shows the Read PDU's CRC as the bytes 56 3a 96 d9.
    std::array<std::byte, 4> wire{};
    store_digest(wire.data(), 0xd9963a56u);
    EXPECT_EQ(wire[0], std::byte{0x56});
    EXPECT_EQ(wire[1], std::byte{0x3a});
    EXPECT_EQ(wire[2], std::byte{0x96});
    EXPECT_EQ(wire[3], std::byte{0xd9});
    EXPECT_EQ(load_digest(wire.data()), 0xd9963a56u);
}

TEST(Crc32c, ZeroVectorDigestBytesMatchRfc) {
    // RFC 3720 B.4: "32 bytes of zeroes: CRC: aa 36 91 8a".
    std::array<std::byte, 4> wire{};
    store_digest(wire.data(), crc32c(filled(32, 0x00)));
    EXPECT_EQ(wire, (std::array<std::byte, 4>{std::byte{0xaa}, std::byte{0x36}, std::byte{0x91}, std::byte{0x8a}}));
}

}  // namespace
}  // namespace iscsikit
