#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

struct DeviceHarness {
    Device device;
    NullIoEngine io;

    DeviceHarness() {
        device.add(0, std::make_shared<LogicalUnit>(identity(), ram()));
        device.add(3, std::make_shared<LogicalUnit>(identity(), ram()));
        device.add(300, std::make_shared<LogicalUnit>(identity(), ram()));
    }

    Command run(Bytes cdb, std::uint64_t lun, std::uint64_t nexus = 1) {
        Command c;
        std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
        c.lun = lun;
        c.nexus = nexus;
        int calls = 0;
        device.execute(c, io, [&] { ++calls; });
        EXPECT_EQ(calls, 1);
        return c;
    }
};

Bytes report_luns(std::uint8_t select, std::uint32_t allocation = 4096) {
    return {0xa0,
            0,
            select,
            0,
            0,
            0,
            std::uint8_t(allocation >> 24),
            std::uint8_t(allocation >> 16),
            std::uint8_t(allocation >> 8),
            std::uint8_t(allocation),
            0,
            0};
}

TEST(Device, ReportLunsSingleLevel) {
    DeviceHarness d;
    // clang-format off
    const Bytes expected{0, 0, 0, 24, 0, 0, 0, 0,        // LUN LIST LENGTH 24
                         0, 0, 0, 0, 0, 0, 0, 0,         // LUN 0
                         0, 3, 0, 0, 0, 0, 0, 0,         // LUN 3
                         0x41, 0x2c, 0, 0, 0, 0, 0, 0};  // LUN 300: flat space addressing
    // clang-format on
    EXPECT_EQ(bytes_of(d.run(report_luns(0), 0)), expected);
    EXPECT_EQ(bytes_of(d.run(report_luns(2), 7)), expected);  // answered whatever the LUN
    EXPECT_EQ(bytes_of(d.run(report_luns(1), 0)), (Bytes{0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(bytes_of(d.run(report_luns(0, 16), 0)), (Bytes{expected.begin(), expected.begin() + 16}));
    expect_invalid_cdb_field(d.run(report_luns(0x10), 0), 2);
}

TEST(Device, InquiryToAbsentLunHasQualifier3) {
    DeviceHarness d;
    const Command c = d.run({0x12, 0, 0, 0, 96, 0}, 5);
    expect_good(c);
    const Bytes b = bytes_of(c);
    ASSERT_EQ(b.size(), 36u);
    EXPECT_EQ(b[0], 0x7f);
    EXPECT_EQ(b[4], 31);
}

TEST(Device, OtherCommandsToAbsentLunAreNotSupported) {
    DeviceHarness d;
    expect_sense(d.run({0x00, 0, 0, 0, 0, 0}, 5), SenseKey::illegal_request, 0x25, 0x00);
    expect_sense(d.run(read10(0, 1), 5), SenseKey::illegal_request, 0x25, 0x00);
    const Command rs = d.run({0x03, 0, 0, 0, 18, 0}, 5);
    expect_good(rs);
    EXPECT_EQ(bytes_of(rs)[12], 0x25);
}

TEST(Device, CommandsReachTheirUnit) {
    DeviceHarness d;
    expect_sense(d.run({0x00, 0, 0, 0, 0, 0}, 3), SenseKey::unit_attention, 0x29, 0x00);
    expect_good(d.run({0x00, 0, 0, 0, 0, 0}, 3));
    expect_sense(d.run({0x00, 0, 0, 0, 0, 0}, 0), SenseKey::unit_attention, 0x29, 0x00);
    EXPECT_EQ(d.device.luns(), (std::vector<std::uint64_t>{0, 3, 300}));
    EXPECT_NE(d.device.find(300), nullptr);
    EXPECT_EQ(d.device.find(4), nullptr);
}

TEST(Device, TargetResetsUseTheirOwnUnitAttention) {
    DeviceHarness d;
    d.run({0x00, 0, 0, 0, 0, 0}, 0);
    d.device.reset(false);
    expect_sense(d.run({0x00, 0, 0, 0, 0, 0}, 0), SenseKey::unit_attention, 0x29, 0x02);
    d.device.reset(true);
    expect_sense(d.run({0x00, 0, 0, 0, 0, 0}, 0), SenseKey::unit_attention, 0x29, 0x01);
}

}  // namespace
}  // namespace iscsikit::scsi::test
