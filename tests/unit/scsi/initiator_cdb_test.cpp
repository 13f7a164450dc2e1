// The initiator's CDB builders (golden bytes, SPC-4/SBC-3 layouts), its parsers (hand-built
// parameter data), and both run against this repo's own target: build, execute, parse.
#include "scsi/initiator_cdb.hpp"

#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

Bytes bytes(const Cdb& c) { return Bytes(c.begin(), c.end()); }

Bytes padded(Bytes b) {
    b.resize(16, 0);
    return b;
}

Bytes ascii(std::string_view s) { return Bytes(s.begin(), s.end()); }

// ---- builders ----

TEST(BuildCdb, TestUnitReadyIsAllZero) { EXPECT_EQ(bytes(build::test_unit_ready()), Bytes(16, 0)); }

TEST(BuildCdb, InquiryStandardAndVpd) {
    EXPECT_EQ(bytes(build::inquiry(0x0102)), padded({0x12, 0x00, 0x00, 0x01, 0x02, 0x00}));
    EXPECT_EQ(bytes(build::inquiry(255, 0x83)), padded({0x12, 0x01, 0x83, 0x00, 0xff, 0x00}));
    EXPECT_EQ(bytes(build::inquiry(4096, 0x00)), padded({0x12, 0x01, 0x00, 0x10, 0x00, 0x00}));  // page 00h is EVPD too
}

TEST(BuildCdb, ReadCapacity16) {
    EXPECT_EQ(bytes(build::read_capacity16()),
              (Bytes{0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00}));
    EXPECT_EQ(bytes(build::read_capacity16(0x01020304)),
              (Bytes{0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00}));
}

TEST(BuildCdb, ReportLuns) {
    EXPECT_EQ(bytes(build::report_luns(0x00010000)), padded({0xa0, 0, 0x00, 0, 0, 0, 0x00, 0x01, 0x00, 0x00, 0, 0}));
    EXPECT_EQ(bytes(build::report_luns(16, 0x02)), padded({0xa0, 0, 0x02, 0, 0, 0, 0x00, 0x00, 0x00, 0x10, 0, 0}));
}

TEST(BuildCdb, Read16AndWrite16) {
    EXPECT_EQ(bytes(build::read16(0x0102030405060708, 0x11223344)),
              (Bytes{0x88, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00}));
    EXPECT_EQ(bytes(build::read16(7, 1, true)), (Bytes{0x88, 0x08, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0x00, 0x00}));
    EXPECT_EQ(bytes(build::write16(0xfffffffffffffffe, 0xffffffff)),
              (Bytes{0x8a, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0, 0}));
    EXPECT_EQ(bytes(build::write16(0x100, 8, true)),
              (Bytes{0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0, 8, 0, 0}));
}

TEST(BuildCdb, SynchronizeCache16) {
    EXPECT_EQ(bytes(build::synchronize_cache16()), padded({0x91}));
    EXPECT_EQ(bytes(build::synchronize_cache16(0x20, 0x10, true)),
              (Bytes{0x91, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0x10, 0, 0}));
}

TEST(BuildCdb, Unmap) {
    EXPECT_EQ(bytes(build::unmap(40)), padded({0x42, 0, 0, 0, 0, 0, 0, 0x00, 40, 0}));
    EXPECT_EQ(bytes(build::unmap(0x1234)), padded({0x42, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0}));
}

TEST(BuildUnmapParameters, HeaderAndDescriptors) {
    const build::UnmapRange ranges[] = {{0x0102030405060708, 0x0a0b0c0d}, {5, 1}};
    // clang-format off
    const Bytes expected{0x00, 38, 0x00, 32, 0, 0, 0, 0,              // UNMAP DATA LENGTH 38, descriptors 32
                         1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 0,
                         0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0};
    // clang-format on
    EXPECT_EQ(build::unmap_parameters(ranges), expected);
    EXPECT_EQ(build::unmap_parameters({}), (Bytes{0, 6, 0, 0, 0, 0, 0, 0}));
}

// ---- parsers over hand-built data ----

Bytes standard_inquiry(std::uint8_t byte0, std::uint8_t byte1, std::string_view text) {
    Bytes d(36, 0);
    d[0] = byte0;
    d[1] = byte1;
    d[2] = 0x05;
    d[4] = 31;
    const Bytes t = ascii(text);
    std::copy(t.begin(), t.end(), d.begin() + 8);
    return d;
}

void expect_inquiry(const std::optional<parse::InquiryData>& d, const parse::InquiryData& want) {
    ASSERT_TRUE(d);
    EXPECT_EQ(d->peripheral_qualifier, want.peripheral_qualifier);
    EXPECT_EQ(d->device_type, want.device_type);
    EXPECT_EQ(d->removable, want.removable);
    EXPECT_EQ(d->version, want.version);
    EXPECT_EQ(d->vendor, want.vendor);
    EXPECT_EQ(d->product, want.product);
    EXPECT_EQ(d->revision, want.revision);
}

TEST(ParseInquiry, FieldsAndTrimming) {
    expect_inquiry(parse::inquiry(standard_inquiry(0x00, 0x80, "LIO-ORG FILEIO          4.0 ")),
                   {0, 0, true, 0x05, "LIO-ORG", "FILEIO", "4.0"});
}

TEST(ParseInquiry, QualifierAndType) {
    const auto d = parse::inquiry(standard_inquiry(0x7f, 0x00, ""));  // 011b, 1Fh: no LU here
    ASSERT_TRUE(d);
    EXPECT_EQ(d->peripheral_qualifier, 3);
    EXPECT_EQ(d->device_type, 0x1f);
    EXPECT_FALSE(d->removable);
    EXPECT_EQ(d->vendor, "");  // all NULs
}

TEST(ParseInquiry, ShortDataIsRejected) {
    const Bytes d = standard_inquiry(0, 0, "VENDOR");
    EXPECT_FALSE(parse::inquiry(std::span(d).first(35)));
    EXPECT_FALSE(parse::inquiry({}));
}

TEST(DeviceTypeName, SpcNames) {
    EXPECT_STREQ(parse::device_type_name(0x00), "disk");
    EXPECT_STREQ(parse::device_type_name(0x01), "tape");
    EXPECT_STREQ(parse::device_type_name(0x05), "cd/dvd");
    EXPECT_STREQ(parse::device_type_name(0x08), "medium changer");
    EXPECT_STREQ(parse::device_type_name(0x0d), "enclosure");
    EXPECT_STREQ(parse::device_type_name(0x1f), "no device");
    EXPECT_STREQ(parse::device_type_name(0x10), "reserved");
}

TEST(ParseReadCapacity16, Fields) {
    Bytes d(32, 0);
    d[6] = 0x01;  // RETURNED LOGICAL BLOCK ADDRESS 0x1ff
    d[7] = 0xff;
    d[10] = 0x10;  // 4096-byte blocks
    d[13] = 0x23;  // P_I_EXPONENT 2 (ignored), LBPPBE 3
    d[14] = 0xc0;  // LBPME, LBPRZ
    const auto c = parse::read_capacity16(d);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->blocks, 0x200u);
    EXPECT_EQ(c->block_size, 4096u);
    EXPECT_EQ(c->lbppbe, 3);
    EXPECT_TRUE(c->thin);
    EXPECT_TRUE(c->lbprz);
    EXPECT_EQ(c->bytes(), 0x200u * 4096);
    d[14] = 0x80;
    EXPECT_FALSE(parse::read_capacity16(d)->lbprz);
    EXPECT_FALSE(parse::read_capacity16(std::span(d).first(31)));
}

TEST(ParseReportLuns, PeripheralAndFlat) {
    // clang-format off
    const Bytes d{0, 0, 0, 32, 0, 0, 0, 0,
                  0, 0, 0, 0, 0, 0, 0, 0,             // 0
                  0, 0xff, 0, 0, 0, 0, 0, 0,          // 255, peripheral
                  0x41, 0x2c, 0, 0, 0, 0, 0, 0,       // 300, flat
                  0x7f, 0xff, 0, 0, 0, 0, 0, 0};      // 16383, flat
    // clang-format on
    EXPECT_EQ(parse::report_luns(d), (std::vector<std::uint64_t>{0, 255, 300, 16383}));
}

TEST(ParseReportLuns, UnsupportedAddressingIsLeftOut) {
    const Bytes d{0,    0,    0,    24,   0, 0, 0, 0, 0x81, 0x02, 0, 0, 0, 0, 0, 0,
                  0x00, 0x01, 0x00, 0x05, 0, 0, 0, 0, 0x00, 0x07, 0, 0, 0, 0, 0, 0};
    EXPECT_EQ(parse::report_luns(d), (std::vector<std::uint64_t>{7}));
}

TEST(ParseReportLuns, TruncatedLists) {
    const Bytes three{0, 0, 0, 24, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0};
    // The allocation length cut the list: the whole entries that arrived.
    EXPECT_EQ(parse::report_luns(three), (std::vector<std::uint64_t>{1, 2}));
    EXPECT_EQ(parse::report_luns(std::span(three).first(23)), (std::vector<std::uint64_t>{1}));
    // No whole entry: nothing to report.
    EXPECT_FALSE(parse::report_luns(std::span(three).first(15)));
    EXPECT_FALSE(parse::report_luns(std::span(three).first(8)));
    EXPECT_FALSE(parse::report_luns(std::span(three).first(7)));
    // An empty list is a list.
    EXPECT_EQ(parse::report_luns(Bytes(8, 0)), std::vector<std::uint64_t>{});
    // Bytes beyond LUN LIST LENGTH are not entries.
    Bytes extra = three;
    extra[3] = 8;
    EXPECT_EQ(parse::report_luns(extra), (std::vector<std::uint64_t>{1}));
}

TEST(ParseVpd, UnitSerialNumber) {
    Bytes d{0x00, 0x80, 0x00, 0x08};
    for (char c : std::string_view("  SN42  ")) d.push_back(static_cast<std::uint8_t>(c));
    EXPECT_EQ(parse::unit_serial_number(d), std::optional<std::string>("SN42"));
    EXPECT_EQ(parse::unit_serial_number(std::span(d).first(8)), std::optional<std::string>("SN"));  // truncated
    d[1] = 0x83;
    EXPECT_FALSE(parse::unit_serial_number(d));
    EXPECT_FALSE(parse::unit_serial_number(Bytes{0x00, 0x80, 0x00}));
}

TEST(ParseVpd, DesignatorTypes) {
    // clang-format off
    const Bytes d{0x00, 0x83, 0x00, 60,
                  0x02, 0x01, 0x00, 0x0c, 'V', 'E', 'N', 'D', 'O', 'R', ' ', ' ', 'S', 'N', '1', ' ',  // T10
                  0x01, 0x02, 0x00, 0x08, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,              // EUI-64
                  0x01, 0x03, 0x00, 0x08, 0x60, 0x01, 0x40, 0x5a, 0xbc, 0xde, 0xf0, 0x12,              // NAA 6
                  0x53, 0x98, 0x00, 0x08, 'i', 'q', 'n', '.', 'a', ':', 'b', 0x00,                     // SCSI name
                  0x51, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02};                                     // rel. port
    // clang-format on
    EXPECT_EQ(parse::device_identifiers(d),
              (std::vector<std::string>{"t10.VENDOR  SN1", "eui.0011223344556677", "naa.6001405abcdef012", "iqn.a:b",
                                        "type4.00000002"}));
}

TEST(ParseVpd, TruncatedDesignatorIsLeftOut) {
    Bytes d{0x00, 0x83, 0x00, 16, 0x01, 0x03, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x03, 0x00, 0x08, 1, 2};
    EXPECT_EQ(parse::device_identifiers(d), (std::vector<std::string>{"naa.0102030405060708"}));
    d[3] = 11;  // the page length ends inside the first designator
    EXPECT_EQ(parse::device_identifiers(d), std::vector<std::string>{});
    d[1] = 0x80;
    EXPECT_FALSE(parse::device_identifiers(d));
}

// ---- against this repo's target ----

Command run(Harness& h, const Cdb& cdb, Bytes data_out = {}) { return h.run(bytes(cdb), std::move(data_out)); }

TEST(InitiatorAgainstTarget, TestUnitReady) {
    Harness h;
    expect_good(run(h, build::test_unit_ready()));
}

TEST(InitiatorAgainstTarget, StandardInquiry) {
    Harness h;
    const Command c = run(h, build::inquiry(255));
    expect_good(c);
    expect_inquiry(parse::inquiry(bytes_of(c)), {0, 0, false, 0x06, "ISCSIKIT", "VIRTUAL-DISK", "0001"});
}

TEST(InitiatorAgainstTarget, ReadCapacity16) {
    Harness h(ram(1024, 4096));
    const Command c = run(h, build::read_capacity16());
    expect_good(c);
    const auto cap = parse::read_capacity16(bytes_of(c));
    ASSERT_TRUE(cap);
    EXPECT_EQ(cap->blocks, 1024u);
    EXPECT_EQ(cap->block_size, 4096u);
    EXPECT_EQ(cap->bytes(), 1024u * 4096);
    EXPECT_FALSE(cap->thin);
    EXPECT_FALSE(cap->lbprz);

    Harness thin(ram(), thin_identity());
    const auto thin_cap = parse::read_capacity16(bytes_of(run(thin, build::read_capacity16())));
    ASSERT_TRUE(thin_cap);
    EXPECT_TRUE(thin_cap->thin);
    EXPECT_TRUE(thin_cap->lbprz);
}

TEST(InitiatorAgainstTarget, VpdPages) {
    Harness h;
    const Command serial = run(h, build::inquiry(255, 0x80));
    expect_good(serial);
    EXPECT_EQ(parse::unit_serial_number(bytes_of(serial)), std::optional<std::string>("SN0001"));

    const Command ids = run(h, build::inquiry(1024, 0x83));
    expect_good(ids);
    EXPECT_EQ(
        parse::device_identifiers(bytes_of(ids)),
        (std::vector<std::string>{"naa.6001405123456789", "t10.ISCSIKITSN0001", "type4.00000001", "type5.00000001",
                                  "iqn.2026-11.org.iscsikit:t1,t,0x0001", "iqn.2026-11.org.iscsikit:t1"}));
}

TEST(InitiatorAgainstTarget, ReportLunsThroughDevice) {
    Device device;
    for (std::uint64_t lun : {0, 3, 255, 256, 300, 16383})
        device.add(lun, std::make_shared<LogicalUnit>(identity(), ram(8)));
    NullIoEngine io;
    Command c;
    c.cdb = build::report_luns(4096);
    int calls = 0;
    device.execute(c, io, [&] { ++calls; });
    ASSERT_EQ(calls, 1);
    expect_good(c);
    EXPECT_EQ(parse::report_luns(bytes_of(c)), (std::vector<std::uint64_t>{0, 3, 255, 256, 300, 16383}));
    // The device resolves a command addressed with our encoding to the right unit.
    for (std::uint64_t lun : {0, 255, 256, 16383}) EXPECT_NE(device.find(decode_lun(encode_lun(lun)).value()), nullptr);
}

TEST(InitiatorAgainstTarget, WriteReadAndSync) {
    Harness h;
    const Bytes data = pattern(2 * 512, 9);
    expect_good(run(h, build::write16(10, 2, true), data));
    ASSERT_EQ(h.store().writes.size(), 1u);
    EXPECT_EQ(h.store().writes[0].offset, 10u * 512);
    EXPECT_TRUE(h.store().writes[0].fua);
    const Command read = run(h, build::read16(10, 2));
    expect_good(read);
    EXPECT_EQ(bytes_of(read), data);
    expect_good(run(h, build::synchronize_cache16()));
    expect_good(run(h, build::synchronize_cache16(10, 2, true)));
    // Past the end of the 1024-block LU: LOGICAL BLOCK ADDRESS OUT OF RANGE.
    expect_sense(run(h, build::read16(1024, 1)), SenseKey::illegal_request, 0x21, 0x00);
}

TEST(InitiatorAgainstTarget, Unmap) {
    Harness h(ram(), thin_identity());
    const build::UnmapRange ranges[] = {{8, 4}, {100, 1}};
    const Bytes list = build::unmap_parameters(ranges);
    expect_good(run(h, build::unmap(static_cast<std::uint16_t>(list.size())), list));
    ASSERT_EQ(h.store().unmaps.size(), 2u);
    EXPECT_EQ(h.store().unmaps[0].offset, 8u * 512);
    EXPECT_EQ(h.store().unmaps[0].length, 4u * 512);
    EXPECT_EQ(h.store().unmaps[1].offset, 100u * 512);
    EXPECT_EQ(h.store().unmaps[1].length, 512u);
}

}  // namespace
}  // namespace iscsikit::scsi::test
