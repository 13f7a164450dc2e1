// Framing (RFC 7143 §11.1, §11.2): layout, padding, digests, and bad input refused before any
// allocation sized from it.
#include "iscsi/frame.hpp"

#include <array>
#include <utility>

#include <gtest/gtest.h>

#include "core/crc32c.hpp"
#include "test_bytes.hpp"

namespace iscsikit::iscsi {
namespace {

using testing::bytes_of;
using testing::hex;

// RFC 3720 B.4: the Read (10) command PDU; its CRC32C is 0xd9963a56, on the wire 56 3a 96 d9.
const std::vector<std::byte> kReadCommand =
    hex("01 c0 00 00 00 00 00 00 00 00 00 00 00 00 00 00 14 00 00 00 00 00 04 00 00 00 00 14 00 00 00 18"
        "28 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00");

Pdu text_request(std::string_view data) {
    Pdu pdu;
    pdu.bhs.set_opcode(Opcode::text_request);
    pdu.bhs.set_final(true);
    pdu.bhs.set_initiator_task_tag(7);
    pdu.data = bytes_of(data);
    return pdu;
}

FrameLimits limits(bool header_digest, bool data_digest, std::uint32_t max = 8192) {
    return FrameLimits{max, header_digest, data_digest};
}

void expect_same_pdu(const Pdu& a, const Pdu& b) {
    EXPECT_EQ(a.bhs, b.bhs);
    EXPECT_EQ(a.ahs, b.ahs);
    EXPECT_EQ(a.data, b.data);
}

TEST(FrameLayout, SizesFollowTheHeader) {
    Bhs bhs;
    bhs.set_total_ahs_length(2);
    bhs.set_data_segment_length(5);
    auto layout = frame_layout(bhs, limits(true, true));
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->ahs_length, 8u);
    EXPECT_EQ(layout->data_segment_length, 5u);
    EXPECT_EQ(layout->padded_data_length, 8u);
    EXPECT_EQ(layout->remaining(), 8u + 4u + 8u + 4u);
    layout = frame_layout(bhs, limits(false, false));
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->remaining(), 16u);
}

TEST(FrameLayout, NoDataDigestWithoutData) {
    Bhs bhs;
    auto layout = frame_layout(bhs, limits(true, true));
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->remaining(), 4u);  // header digest only
}

TEST(FrameLayout, DataSegmentAboveMaxRecvDataSegmentLengthIsRefused) {
    Bhs bhs;
    bhs.set_data_segment_length(8193);
    auto layout = frame_layout(bhs, limits(false, false, 8192));
    ASSERT_FALSE(layout);
    EXPECT_EQ(layout.error(), FrameError::data_segment_too_long);
    bhs.set_data_segment_length(8192);
    EXPECT_TRUE(frame_layout(bhs, limits(false, false, 8192)));
}

TEST(Encode, HeaderDigestOfRfc3720ReadCommandIsTheRfcCrc) {
    Pdu pdu;
    pdu.bhs = Bhs(kReadCommand);
    std::vector<std::byte> wire;
    encode_pdu(pdu, true, true, wire);
    auto expected = kReadCommand;
    const auto crc = hex("56 3a 96 d9");
    expected.insert(expected.end(), crc.begin(), crc.end());
    EXPECT_EQ(wire, expected);  // no data, so no data digest either
}

TEST(Encode, PadsDataWithZerosAndSetsLengths) {
    Pdu pdu = text_request("abcde");
    pdu.bhs.set_data_segment_length(999);  // encode overwrites it from the vector
    pdu.ahs = hex("00 04 01 00 11 22 33 44");
    std::vector<std::byte> wire;
    encode_pdu(pdu, false, false, wire);
    ASSERT_EQ(wire.size(), 48u + 8u + 8u);
    const Bhs sent(wire);
    EXPECT_EQ(sent.total_ahs_length(), 2);
    EXPECT_EQ(sent.data_segment_length(), 5u);
    EXPECT_EQ(std::vector<std::byte>(wire.begin() + 48, wire.begin() + 56), pdu.ahs);
    EXPECT_EQ(std::vector<std::byte>(wire.begin() + 56, wire.end()), hex("61 62 63 64 65 00 00 00"));
}

TEST(Encode, DataDigestCoversDataAndPadding) {
    Pdu pdu = text_request("abc");
    std::vector<std::byte> wire;
    encode_pdu(pdu, false, true, wire);
    ASSERT_EQ(wire.size(), 48u + 4u + 4u);
    EXPECT_EQ(load_digest(wire.data() + 52), crc32c(hex("61 62 63 00")));
}

TEST(Encode, AppendsToWhatIsAlreadyThere) {
    std::vector<std::byte> wire = hex("ff ff");
    encode_pdu(text_request("abcd"), true, true, wire);
    EXPECT_EQ(wire.size(), 2u + 48u + 4u + 4u + 4u);
    EXPECT_EQ(wire[0], std::byte{0xff});
    EXPECT_EQ(Bhs(ConstByteSpan(wire).subspan(2)).data_segment_length(), 4u);
}

class RoundTrip : public ::testing::TestWithParam<std::tuple<bool, bool, std::size_t>> {};

TEST_P(RoundTrip, DecodeOfEncodeGivesThePduBack) {
    const auto [header_digest, data_digest, data_length] = GetParam();
    Pdu pdu = text_request(std::string(data_length, 'k'));
    pdu.ahs = hex("00 05 01 00 01 02 03 04");
    std::vector<std::byte> wire;
    encode_pdu(pdu, header_digest, data_digest, wire);
    auto decoded = decode_pdu(wire, limits(header_digest, data_digest));
    ASSERT_TRUE(decoded) << frame_error_name(decoded.error());
    EXPECT_EQ(decoded->consumed, wire.size());
    Pdu expected = pdu;
    expected.bhs.set_total_ahs_length(2);
    expected.bhs.set_data_segment_length(static_cast<std::uint32_t>(data_length));
    expect_same_pdu(decoded->pdu, expected);
}

INSTANTIATE_TEST_SUITE_P(DigestsAndPadding, RoundTrip,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(),
                                            ::testing::Values(0, 1, 2, 3, 4, 5, 8192)));

TEST(Decode, RfcReadCommandWithHeaderDigest) {
    auto wire = kReadCommand;
    const auto crc = hex("56 3a 96 d9");
    wire.insert(wire.end(), crc.begin(), crc.end());
    auto decoded = decode_pdu(wire, limits(true, false));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->consumed, 52u);
    EXPECT_EQ(decoded->pdu.bhs.opcode(), Opcode::scsi_command);
    EXPECT_TRUE(decoded->pdu.data.empty());
}

TEST(Decode, EveryShortPrefixIsTruncated) {
    std::vector<std::byte> wire;
    Pdu pdu = text_request("InitiatorName=iqn.2024-01.test:x");
    pdu.ahs = hex("00 01 01 00");
    encode_pdu(pdu, true, true, wire);
    for (std::size_t n = 0; n < wire.size(); ++n) {
        auto decoded = decode_pdu(ConstByteSpan(wire).first(n), limits(true, true));
        ASSERT_FALSE(decoded) << n;
        EXPECT_EQ(decoded.error(), FrameError::truncated) << n;
    }
    EXPECT_TRUE(decode_pdu(wire, limits(true, true)));
}

TEST(Decode, OversizeSegmentIsRefusedBeforeTheBytesArrive) {
    // A header claiming 16 MiB - 1 of data with nothing behind it: refused for its length, not
    // waited for.
    Bhs bhs;
    bhs.set_opcode(Opcode::data_out);
    bhs.set_data_segment_length(0xffffff);
    auto decoded = decode_pdu(bhs.span(), limits(false, false, 262144));
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error(), FrameError::data_segment_too_long);
}

TEST(Decode, CorruptHeaderDigestIsDetected) {
    std::vector<std::byte> wire;
    encode_pdu(text_request("a=b"), true, false, wire);
    wire[20] ^= std::byte{0x01};
    auto decoded = decode_pdu(wire, limits(true, false));
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error(), FrameError::header_digest_mismatch);
}

TEST(Decode, CorruptDataDigestIsDetected) {
    std::vector<std::byte> wire;
    encode_pdu(text_request("a=b"), true, true, wire);
    wire[48 + 4 + 1] ^= std::byte{0x20};
    auto decoded = decode_pdu(wire, limits(true, true));
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error(), FrameError::data_digest_mismatch);
}

TEST(Decode, CorruptPaddingFailsTheDataDigest) {
    std::vector<std::byte> wire;
    encode_pdu(text_request("a=b"), false, true, wire);
    wire[48 + 3] = std::byte{0x55};  // the pad byte after "a=b"
    auto decoded = decode_pdu(wire, limits(false, true));
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error(), FrameError::data_digest_mismatch);
    EXPECT_TRUE(decode_pdu(wire, limits(false, false)));  // without digests padding is not inspected
}

TEST(Decode, ConsumesOnePduOfSeveral) {
    std::vector<std::byte> wire;
    encode_pdu(text_request("first=1"), false, false, wire);
    const std::size_t first_size = wire.size();
    encode_pdu(text_request("second=22"), false, false, wire);
    auto first = decode_pdu(wire, limits(false, false));
    ASSERT_TRUE(first);
    EXPECT_EQ(first->consumed, first_size);
    EXPECT_EQ(first->pdu.data, bytes_of("first=1"));
    auto second = decode_pdu(ConstByteSpan(wire).subspan(first->consumed), limits(false, false));
    ASSERT_TRUE(second);
    EXPECT_EQ(second->pdu.data, bytes_of("second=22"));
}

TEST(DigestChecks, HeaderDigestCoversBhsAndAhs) {
    Pdu pdu = text_request("");
    pdu.ahs = hex("00 01 01 00");
    std::vector<std::byte> wire;
    encode_pdu(pdu, true, false, wire);
    const Bhs sent(wire);
    EXPECT_TRUE(header_digest_ok(sent, ConstByteSpan(wire).subspan(48, 4), wire.data() + 52));
    EXPECT_FALSE(header_digest_ok(sent, ConstByteSpan(wire).subspan(48, 0), wire.data() + 52));
}

TEST(DigestChecks, DataDigestComparesLittleEndianCrc) {
    const auto padded = hex("61 62 63 00");
    std::array<std::byte, 4> digest{};
    store_digest(digest.data(), crc32c(padded));
    EXPECT_TRUE(data_digest_ok(padded, digest.data()));
    std::swap(digest[0], digest[3]);
    EXPECT_FALSE(data_digest_ok(padded, digest.data()));
}

TEST(FrameError, NamesSayWhatWentWrong) {
    EXPECT_STREQ(frame_error_name(FrameError::truncated), "truncated PDU");
    EXPECT_STREQ(frame_error_name(FrameError::data_segment_too_long), "data segment too long");
}

}  // namespace
}  // namespace iscsikit::iscsi
