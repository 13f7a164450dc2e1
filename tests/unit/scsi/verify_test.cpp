#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

Bytes verify10(std::uint32_t lba, std::uint16_t blocks, std::uint8_t flags) {
    Bytes c = read10(lba, blocks, flags);
    c[0] = 0x2f;
    return c;
}

TEST(Verify, ByteCompareMatches) {
    Harness h;
    const Bytes data = pattern(3 * 512, 4);
    expect_good(h.run(write10(100, 3), data));
    expect_good(h.run(verify10(100, 3, 0x02), data));
    expect_good(h.run(cdb16(0x8f, 100, 3, 0x02), data));
    expect_good(h.run({0xaf, 0x02, 0, 0, 0, 100, 0, 0, 0, 3, 0, 0}, data));
}

TEST(Verify, MiscompareReportsOffsetOfFirstDifference) {
    Harness h;
    Bytes data = pattern(3 * 512, 4);
    expect_good(h.run(write10(100, 3), data));
    data[700] ^= 'X';
    const Command c = h.run(verify10(100, 3, 0x02), data);
    expect_sense(c, SenseKey::miscompare, 0x1d, 0x00);
    EXPECT_EQ(c.sense.information, 700u);
}

TEST(Verify, WithoutByteCheckOnlyRangeMatters) {
    Harness h;
    expect_good(h.run(verify10(0, 1024, 0x00)));
    expect_sense(h.run(verify10(1000, 25, 0x00)), SenseKey::illegal_request, 0x21, 0x00);
    expect_sense(h.run(verify10(1025, 0, 0x02)), SenseKey::illegal_request, 0x21, 0x00);
    expect_good(h.run(verify10(5, 0, 0x02)));
}

TEST(Verify, OneBlockAgainstEveryBlock) {
    Harness h;
    const Bytes block = pattern(512, 8);
    for (std::uint32_t lba = 200; lba < 204; ++lba) expect_good(h.run(write10(lba, 1), block));
    expect_good(h.run(verify10(200, 4, 0x06), block));
    Bytes other = block;
    other[0] ^= 1;
    expect_good(h.run(write10(202, 1), other));
    const Command c = h.run(verify10(200, 4, 0x06), block);
    expect_sense(c, SenseKey::miscompare, 0x1d, 0x00);
    EXPECT_EQ(c.sense.information, 2u * 512);
}

TEST(Verify, ReservedByteCheckAndProtectionAreInvalid) {
    Harness h;
    expect_invalid_cdb_field(h.run(verify10(0, 1, 0x04), pattern(512, 0)), 1);
    for (std::uint8_t p = 1; p < 8; ++p)
        expect_invalid_cdb_field(h.run(verify10(0, 1, std::uint8_t(p << 5 | 0x02)), pattern(512, 0)), 1);
}

TEST(Verify, DpoIsAccepted) {
    Harness h;
    const Bytes zeros(512, 0);
    expect_good(h.run(verify10(0, 1, 0x12), zeros));
}

TEST(Verify, ShortDataComparesWhatArrived) {
    Harness h;
    expect_good(h.run(verify10(0, 2, 0x02), Bytes(512, 0)));
    expect_sense(h.run(verify10(0, 2, 0x02), Bytes(100, 0)), SenseKey::illegal_request, 0x0e, 0x03);
}

}  // namespace
}  // namespace iscsikit::scsi::test
