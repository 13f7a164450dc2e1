#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

Bytes prin(std::uint8_t service_action, std::uint16_t allocation) {
    return {0x5e, service_action, 0, 0, 0, 0, 0, std::uint8_t(allocation >> 8), std::uint8_t(allocation), 0};
}

TEST(PersistentReserveIn, ReadKeysAndReservationReportNone) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(prin(0x00, 16384))), (Bytes{0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(bytes_of(h.run(prin(0x01, 16384))), (Bytes{0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(bytes_of(h.run(prin(0x03, 16384))), (Bytes{0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(PersistentReserveIn, ReportCapabilitiesSaysNoTypeIsSupported) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(prin(0x02, 8))), (Bytes{0, 8, 0, 0x80, 0, 0, 0, 0}));
}

TEST(PersistentReserveIn, AllocationLengthTruncates) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(prin(0x02, 4))), (Bytes{0, 8, 0, 0x80}));
}

TEST(PersistentReserveIn, UnknownServiceActionIsInvalidFieldAtByteOne) {
    Harness h;
    for (std::uint8_t sa = 4; sa < 0x20; ++sa) expect_invalid_cdb_field(h.run(prin(sa, 8)), 1);
}

TEST(PersistentReserveOut, IsNotSupportedYet) {
    Harness h;
    expect_sense(h.run({0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0}), SenseKey::illegal_request, 0x20, 0x00);
}

}  // namespace
}  // namespace iscsikit::scsi::test
