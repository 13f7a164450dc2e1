#include <string>

#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

Bytes inquiry(std::uint8_t evpd, std::uint8_t page, std::uint16_t allocation) {
    return {0x12, evpd, page, std::uint8_t(allocation >> 8), std::uint8_t(allocation), 0};
}

Bytes ascii(const std::string& s) { return Bytes(s.begin(), s.end()); }

TEST(Inquiry, StandardDataIsSpc4WithVersionDescriptors) {
    Harness h;
    const Command c = h.run(inquiry(0, 0, 255));
    expect_good(c);
    Bytes expected(96, 0);
    expected[2] = 0x06;  // SPC-4
    expected[3] = 0x02;  // response data format
    expected[4] = 91;
    expected[5] = 0x30;  // TPGS 11b: implicit and explicit ALUA
    expected[7] = 0x02;  // CmdQue
    const Bytes text = ascii("ISCSIKITVIRTUAL-DISK    0001");
    std::copy(text.begin(), text.end(), expected.begin() + 8);
    const Bytes versions{0x00, 0xa0, 0x09, 0x60, 0x04, 0x60, 0x04, 0xc0};  // SAM-5, iSCSI, SPC-4, SBC-3
    std::copy(versions.begin(), versions.end(), expected.begin() + 58);
    EXPECT_EQ(bytes_of(c), expected);
}

TEST(Inquiry, AllocationLengthTruncates) {
    Harness h;
    const Command full = h.run(inquiry(0, 0, 512));
    for (std::uint16_t n : {0, 5, 36, 95, 96, 511}) {
        const Command c = h.run(inquiry(0, 0, n));
        expect_good(c);
        const Bytes b = bytes_of(c);
        ASSERT_EQ(b.size(), std::min<std::size_t>(n, 96));
        EXPECT_TRUE(std::equal(b.begin(), b.end(), bytes_of(full).begin()));
    }
}

TEST(Inquiry, RemovableSetsRmb) {
    LuIdentity id = identity();
    id.removable = true;
    Harness h(ram(), id);
    EXPECT_EQ(bytes_of(h.run(inquiry(0, 0, 36)))[1], 0x80);
}

TEST(Inquiry, PageCodeWithoutEvpdIsInvalidField) {
    Harness h;
    expect_invalid_cdb_field(h.run(inquiry(0, 0x80, 255)), 2);
}

TEST(Inquiry, UnknownVpdPageIsInvalidField) {
    Harness h;
    expect_invalid_cdb_field(h.run(inquiry(1, 0x86, 255)), 2);
    expect_invalid_cdb_field(h.run(inquiry(1, 0xb2, 255)), 2);  // only for thin LUs
}

TEST(Inquiry, SupportedPagesAscending) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(inquiry(1, 0x00, 255))), (Bytes{0, 0, 0, 6, 0x00, 0x80, 0x83, 0x8f, 0xb0, 0xb1}));
    LuIdentity id = identity();
    id.thin = true;
    Harness thin(ram(), id);
    EXPECT_EQ(bytes_of(thin.run(inquiry(1, 0x00, 255))), (Bytes{0, 0, 0, 7, 0x00, 0x80, 0x83, 0x8f, 0xb0, 0xb1, 0xb2}));
}

TEST(Inquiry, UnitSerialNumber) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(inquiry(1, 0x80, 255))), (Bytes{0, 0x80, 0, 6, 'S', 'N', '0', '0', '0', '1'}));
}

TEST(Inquiry, DeviceIdentificationDesignators) {
    Harness h;
    Bytes expected{0, 0x83, 0, 0};
    // NAA, binary, logical unit
    const Bytes naa{0x01, 0x03, 0x00, 0x08, 0x60, 0x01, 0x40, 0x51, 0x23, 0x45, 0x67, 0x89};
    // T10 vendor ID, ASCII: vendor padded to 8, then the serial
    Bytes t10{0x02, 0x01, 0x00, 14};
    for (char ch : std::string("ISCSIKITSN0001")) t10.push_back(std::uint8_t(ch));
    // iSCSI (5h), PIV, target port: relative target port 1, target port group 1
    const Bytes rtp{0x51, 0x94, 0x00, 0x04, 0, 0, 0, 1};
    const Bytes tpg{0x51, 0x95, 0x00, 0x04, 0, 0, 0, 1};
    // SCSI name strings (UTF-8), null terminated, padded to 4: port, then target device
    const std::string port = "iqn.2026-11.org.iscsikit:t1,t,0x0001";  // 36 chars -> 40
    Bytes port_name{0x53, 0x98, 0x00, 40};
    for (char ch : port) port_name.push_back(std::uint8_t(ch));
    port_name.resize(port_name.size() + 4, 0);
    const std::string device = "iqn.2026-11.org.iscsikit:t1";  // 27 chars -> 28
    Bytes device_name{0x53, 0xa8, 0x00, 28};
    for (char ch : device) device_name.push_back(std::uint8_t(ch));
    device_name.push_back(0);
    for (const Bytes* d : std::initializer_list<const Bytes*>{&naa, &t10, &rtp, &tpg, &port_name, &device_name})
        expected.insert(expected.end(), d->begin(), d->end());
    expected[2] = std::uint8_t((expected.size() - 4) >> 8);
    expected[3] = std::uint8_t(expected.size() - 4);
    EXPECT_EQ(bytes_of(h.run(inquiry(1, 0x83, 1024))), expected);
}

TEST(Inquiry, BlockLimits) {
    Harness h;
    Bytes expected(64, 0);
    expected[1] = 0xb0;
    expected[3] = 0x3c;
    expected[5] = 0xff;                        // maximum compare and write length 255 blocks
    expected[7] = 0x08;                        // optimal granularity: 4096 / 512
    expected[9] = 0x00, expected[10] = 0x40;   // maximum transfer length 16384 blocks (8 MiB)
    expected[14] = 0x08;                       // optimal transfer length 2048 blocks (1 MiB)
    expected[42] = 0xff, expected[43] = 0xff;  // maximum write same length 65535 blocks
    expected[46] = 0x40;                       // maximum atomic transfer length: the transfer limit
    EXPECT_EQ(bytes_of(h.run(inquiry(1, 0xb0, 255))), expected);
    Harness big(ram(256, 4096));
    const Bytes b = bytes_of(big.run(inquiry(1, 0xb0, 255)));
    EXPECT_EQ((Bytes{b.begin() + 36, b.begin() + 44}), (Bytes{0, 0, 0, 0, 0, 0, 0x40, 0x00}));  // 16384 (64 MiB)
}

TEST(Inquiry, BlockLimitsOfAThinLuCarryUnmapLimits) {
    Harness h(ram(), thin_identity());
    Bytes expected(64, 0);
    expected[1] = 0xb0;
    expected[3] = 0x3c;
    expected[5] = 0xff;                        // maximum compare and write length 255 blocks
    expected[7] = 0x01;                        // optimal granularity: one block (LBPPBE 0 on thin LUs)
    expected[9] = 0x00, expected[10] = 0x40;   // maximum transfer length 16384 blocks (8 MiB)
    expected[14] = 0x08;                       // optimal transfer length 2048 blocks (1 MiB)
    expected[21] = 0x10;                       // maximum unmap LBA count 1048576 blocks (512 MiB)
    expected[26] = 0x01;                       // maximum unmap block descriptor count 256
    expected[31] = 0x08;                       // optimal unmap granularity 8 blocks (4 KiB)
    expected[32] = 0x80;                       // UGAVALID, alignment 0
    expected[42] = 0xff, expected[43] = 0xff;  // maximum write same length 65535 blocks
    expected[46] = 0x40;                       // maximum atomic transfer length: the transfer limit
    EXPECT_EQ(bytes_of(h.run(inquiry(1, 0xb0, 255))), expected);

    Harness big(ram(256, 4096), thin_identity());
    const Bytes b = bytes_of(big.run(inquiry(1, 0xb0, 255)));
    EXPECT_EQ((Bytes{b.begin() + 20, b.begin() + 36}),
              (Bytes{0, 0x02, 0, 0, 0, 0, 0x01, 0, 0, 0, 0, 0x01, 0x80, 0, 0, 0}));  // 131072 blocks, 256, 1
}

TEST(Inquiry, BlockDeviceCharacteristicsNonRotating) {
    Harness h;
    Bytes expected(64, 0);
    expected[1] = 0xb1;
    expected[3] = 0x3c;
    expected[5] = 0x01;
    EXPECT_EQ(bytes_of(h.run(inquiry(1, 0xb1, 255))), expected);
}

TEST(Inquiry, LogicalBlockProvisioningForThin) {
    LuIdentity id = identity();
    id.thin = true;
    Harness h(ram(), id);
    // LBPU, LBPWS, LBPWS10, LBPRZ; PROVISIONING TYPE 010b (thin)
    EXPECT_EQ(bytes_of(h.run(inquiry(1, 0xb2, 255))), (Bytes{0, 0xb2, 0, 4, 0, 0xe4, 0x02, 0}));
}

TEST(Inquiry, DoesNotReportUnitAttention) {
    Harness h;
    expect_good(h.run(inquiry(0, 0, 36), {}, 7));  // a new nexus: POWER ON stays pending
    expect_sense(h.run({0, 0, 0, 0, 0, 0}, {}, 7), SenseKey::unit_attention, 0x29, 0x00);
}

}  // namespace
}  // namespace iscsikit::scsi::test
