// The one LUN codec (scsi/lun.hpp): golden 8-byte fields from SAM-5 §4.7, and the forms it refuses.
#include "scsi/lun.hpp"

#include <gtest/gtest.h>

namespace iscsikit::scsi {
namespace {

TEST(Lun, EncodesPeripheralBelow256AndFlatAbove) {
    EXPECT_EQ(encode_lun(0), 0u);
    EXPECT_EQ(encode_lun(5), 0x0005000000000000u);
    EXPECT_EQ(encode_lun(255), 0x00ff000000000000u);
    EXPECT_EQ(encode_lun(256), 0x4100000000000000u);
    EXPECT_EQ(encode_lun(300), 0x412c000000000000u);
    EXPECT_EQ(encode_lun(16383), 0x7fff000000000000u);
}

TEST(Lun, DecodeInvertsEncode) {
    for (std::uint64_t lun = 0; lun <= kMaxLun; ++lun) ASSERT_EQ(decode_lun(encode_lun(lun)), lun);
}

TEST(Lun, FlatAddressingOfASmallLunIsAccepted) { EXPECT_EQ(decode_lun(0x4005000000000000u), 5u); }

TEST(Lun, UnsupportedFormsDecodeToNothing) {
    EXPECT_EQ(decode_lun(0x0105000000000000u), std::nullopt);  // peripheral, bus 1
    EXPECT_EQ(decode_lun(0x8001000000000000u), std::nullopt);  // logical unit addressing (10b)
    EXPECT_EQ(decode_lun(0xc100000000000000u), std::nullopt);  // extended addressing (11b)
    EXPECT_EQ(decode_lun(0x0001000200000000u), std::nullopt);  // a second level
    EXPECT_EQ(decode_lun(0x4001000000000001u), std::nullopt);  // flat, but byte 7 set
}

TEST(Lun, ALunBeyondTheFlatSpaceEncodesToAFieldNoOneDecodes) {
    // Never truncated into another LUN's address: 16384 must not become LUN 0.
    EXPECT_EQ(encode_lun(kMaxLun + 1), kUnsupportedLunField);
    EXPECT_EQ(decode_lun(encode_lun(kMaxLun + 1)), std::nullopt);
    EXPECT_EQ(decode_lun(encode_lun(1ull << 40)), std::nullopt);
}

static_assert(decode_lun(encode_lun(300)) == 300u);  // usable at compile time

}  // namespace
}  // namespace iscsikit::scsi
