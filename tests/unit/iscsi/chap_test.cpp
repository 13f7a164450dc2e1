// CHAP MD5 responses (RFC 1994 §4.1) against known answers, and RFC 7143 §6.1 binary values.
#include "iscsi/chap.hpp"

#include <gtest/gtest.h>

namespace iscsikit::iscsi {
namespace {

using Bytes = std::vector<std::uint8_t>;

// The expected digests were computed independently:
//   python3 -c "import hashlib; print(hashlib.md5(bytes([id]) + secret + challenge).hexdigest())"
TEST(ChapMd5, KnownAnswer) {
    const Bytes challenge = *decode_binary_value("0xf0e1d2c3b4a5968778695a4b3c2d1e0f");
    const Bytes response = chap_md5_response(0x2a, "verysecretpw", challenge);
    EXPECT_EQ(encode_hex_value(response), "0xe237ff60e63e67bfedf70eb427eb8601");
}

TEST(ChapMd5, KnownAnswerLongChallengeAndHighIdentifier) {
    Bytes challenge(32);
    for (std::size_t i = 0; i < challenge.size(); ++i) challenge[i] = static_cast<std::uint8_t>(i);
    EXPECT_EQ(encode_hex_value(chap_md5_response(0xff, "secret-with-16ch", challenge)),
              "0x69a09caec4be5ea0d848fab088333947");
}

TEST(ChapMd5, IdentifierAloneIsHashed) {
    // MD5 of the single byte 00h.
    EXPECT_EQ(encode_hex_value(chap_md5_response(0, "", {})), "0x93b885adfe0da089cdf634904fd59f71");
}

TEST(ChapMd5, EveryInputChangesTheResponse) {
    const Bytes challenge{1, 2, 3, 4, 5, 6, 7, 8};
    const Bytes base = chap_md5_response(7, "secret", challenge);
    ASSERT_EQ(base.size(), 16u);
    EXPECT_NE(chap_md5_response(8, "secret", challenge), base);
    EXPECT_NE(chap_md5_response(7, "Secret", challenge), base);
    EXPECT_NE(chap_md5_response(7, "secret", Bytes{1, 2, 3, 4, 5, 6, 7, 9}), base);
    EXPECT_EQ(chap_md5_response(7, "secret", challenge), base);
}

TEST(BinaryValue, Hex) {
    EXPECT_EQ(decode_binary_value("0x00ff10Ab"), (Bytes{0x00, 0xff, 0x10, 0xab}));
    EXPECT_EQ(decode_binary_value("0XDEADBEEF"), (Bytes{0xde, 0xad, 0xbe, 0xef}));
    EXPECT_EQ(decode_binary_value("0x01"), (Bytes{0x01}));
}

TEST(BinaryValue, Base64) {
    EXPECT_EQ(decode_binary_value("0b8OHSw7Sllod4aVpLPC0eDw=="),
              decode_binary_value("0xf0e1d2c3b4a5968778695a4b3c2d1e0f"));
    EXPECT_EQ(decode_binary_value("0BAAEC"), (Bytes{0x00, 0x01, 0x02}));
    EXPECT_EQ(decode_binary_value("0bAAE="), (Bytes{0x00, 0x01}));
    EXPECT_EQ(decode_binary_value("0bAA=="), (Bytes{0x00}));
    EXPECT_EQ(decode_binary_value("0b+/+/"), (Bytes{0xfb, 0xff, 0xbf}));
}

TEST(BinaryValue, MalformedIsRefused) {
    for (std::string_view text : {"",       "0", "0x", "0X", "0b", "0B", "x12", "12", "0y12", " 0x12", "0x12 ",
                                  "0x123",      // odd digit count
                                  "0x1g",       // not a hex digit
                                  "0x-1",       //
                                  "0bAAE",      // not a multiple of four
                                  "0bA===",     // too much padding
                                  "0bAA=A",     // padding in the middle
                                  "0b====",     //
                                  "0bAB==",     // nonzero pad bits
                                  "0bAA*A"}) {  // not a base64 digit
        EXPECT_FALSE(decode_binary_value(text)) << "'" << text << "'";
    }
}

TEST(BinaryValue, HexEncodingIsLowercaseAndRoundTrips) {
    const Bytes bytes{0x00, 0x0a, 0xa0, 0xff, 0x5c};
    EXPECT_EQ(encode_hex_value(bytes), "0x000aa0ff5c");
    EXPECT_EQ(decode_binary_value(encode_hex_value(bytes)), bytes);
    EXPECT_EQ(encode_hex_value({}), "0x");
}

}  // namespace
}  // namespace iscsikit::iscsi
