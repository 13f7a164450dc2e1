#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

Bytes mode_sense6(std::uint8_t page, std::uint8_t pc = 0, bool dbd = false, std::uint8_t allocation = 255,
                  std::uint8_t subpage = 0) {
    return {0x1a, std::uint8_t(dbd ? 0x08 : 0), std::uint8_t(pc << 6 | page), subpage, allocation, 0};
}
Bytes mode_sense10(std::uint8_t page, bool llbaa, std::uint16_t allocation = 1024) {
    return {
        0x5a, std::uint8_t(llbaa ? 0x10 : 0), page, 0, 0, 0, 0, std::uint8_t(allocation >> 8), std::uint8_t(allocation),
        0};
}
Bytes mode_select6(std::size_t length, std::uint8_t flags = 0x10) {
    return {0x15, flags, 0, 0, std::uint8_t(length), 0};
}

const Bytes kCaching{0x08, 0x12, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
const Bytes kControl{0x0a, 0x0a, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00};
const Bytes kInformationalExceptions{0x1c, 0x0a, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0};

Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

TEST(ModeSense, AllPagesWithBlockDescriptor) {
    Harness h;                                 // 1024 blocks of 512
    const Bytes header{55, 0x00, 0x10, 0x08};  // DPOFUA, 8-byte block descriptor
    const Bytes descriptor{0, 0, 0x04, 0x00, 0, 0, 0x02, 0x00};
    EXPECT_EQ(bytes_of(h.run(mode_sense6(0x3f))),
              concat({header, descriptor, kCaching, kControl, kInformationalExceptions}));
}

TEST(ModeSense, AllPagesAndSubpagesIsTheSame) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(mode_sense6(0x3f, 0, false, 255, 0xff))), bytes_of(h.run(mode_sense6(0x3f))));
}

TEST(ModeSense, SinglePageWithoutDescriptor) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(mode_sense6(0x08, 0, true))), concat({{23, 0, 0x10, 0}, kCaching}));
}

TEST(ModeSense, ChangeableValues) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(mode_sense6(0x0a, 1, true))),
              concat({{15, 0, 0x10, 0}, {0x0a, 0x0a, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0}}));
    EXPECT_EQ(bytes_of(h.run(mode_sense6(0x08, 1, true)))[6], 0x04);  // WCE
}

TEST(ModeSense, SavedValuesAreNotSupported) {
    Harness h;
    expect_sense(h.run(mode_sense6(0x08, 3)), SenseKey::illegal_request, 0x39, 0x00);
}

TEST(ModeSense, UnknownPageAndSubpage) {
    Harness h;
    expect_invalid_cdb_field(h.run(mode_sense6(0x19)), 2);
    expect_invalid_cdb_field(h.run(mode_sense6(0x08, 0, false, 255, 0x01)), 3);
}

TEST(ModeSense, AllocationLengthTruncatesButKeepsTotalLength) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(mode_sense6(0x3f, 0, false, 4))), (Bytes{55, 0x00, 0x10, 0x08}));
}

TEST(ModeSense, TenByteWithLongLbaDescriptor) {
    Harness h;
    const Bytes header{0, 66, 0, 0x10, 0x01, 0, 0, 16};
    const Bytes descriptor{0, 0, 0, 0, 0, 0, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0x02, 0x00};
    EXPECT_EQ(bytes_of(h.run(mode_sense10(0x3f, true))),
              concat({header, descriptor, kCaching, kControl, kInformationalExceptions}));
}

TEST(ModeSense, WriteProtectBitForReadOnlyStore) {
    Harness h(ram(1024, 512, true));
    EXPECT_EQ(bytes_of(h.run(mode_sense6(0x3f)))[2], 0x90);
}

TEST(ModeSelect, TurningWriteCacheOffMakesWritesFuaAndTellsOtherNexuses) {
    Harness h;
    h.clear_power_on(2);
    Bytes caching = kCaching;
    caching[2] = 0x00;  // WCE off
    expect_good(h.run(mode_select6(4 + caching.size()), concat({{0, 0, 0, 0}, caching})));
    EXPECT_EQ(bytes_of(h.run(mode_sense6(0x08, 0, true)))[6], 0x00);

    expect_good(h.run(write10(0, 1), pattern(512, 1)));
    ASSERT_FALSE(h.store().writes.empty());
    EXPECT_TRUE(h.store().writes.back().fua);

    // SPC-4 §7.5.1: MODE PARAMETERS CHANGED for the other nexus only.
    expect_sense(h.run({0, 0, 0, 0, 0, 0}, {}, 2), SenseKey::unit_attention, 0x2a, 0x01);
    expect_good(h.run({0, 0, 0, 0, 0, 0}, {}, 1));
}

TEST(ModeSelect, SameValuesRaiseNoUnitAttention) {
    Harness h;
    h.clear_power_on(2);
    expect_good(h.run(mode_select6(4 + kControl.size()), concat({{0, 0, 0, 0}, kControl})));
    expect_good(h.run({0, 0, 0, 0, 0, 0}, {}, 2));
}

TEST(ModeSelect, SoftwareWriteProtect) {
    Harness h;
    Bytes control = kControl;
    control[4] = 0x08;  // SWP
    expect_good(h.run(mode_select6(16), concat({{0, 0, 0, 0}, control})));
    EXPECT_EQ(bytes_of(h.run(mode_sense6(0x0a, 0, true)))[2], 0x90);  // WP reported
    expect_sense(h.run(write10(0, 1), pattern(512, 1)), SenseKey::data_protect, 0x27, 0x02);
    expect_good(h.run(read10(0, 1)));
    control[4] = 0x00;
    expect_good(h.run(mode_select6(16), concat({{0, 0, 0, 0}, control})));
    expect_good(h.run(write10(0, 1), pattern(512, 1)));
}

TEST(ModeSelect, UnchangeableBitNamesByteAndBit) {
    Harness h;
    Bytes control = kControl;
    control[3] = 0x00;  // QUEUE ALGORITHM MODIFIER is not changeable
    const Command c = h.run(mode_select6(16), concat({{0, 0, 0, 0}, control}));
    expect_sense(c, SenseKey::illegal_request, 0x26, 0x00);
    EXPECT_FALSE(c.sense.field_in_cdb);
    EXPECT_EQ(c.sense.field_pointer, 4 + 3);
    EXPECT_EQ(c.sense.bit_pointer, 4);
}

TEST(ModeSelect, WrongPageLengthAndUnknownPage) {
    Harness h;
    Bytes control = kControl;
    control[1] = 0x0b;
    control.push_back(0);
    Command c = h.run(mode_select6(17), concat({{0, 0, 0, 0}, control}));
    expect_sense(c, SenseKey::illegal_request, 0x26, 0x00);
    EXPECT_EQ(c.sense.field_pointer, 5);
    c = h.run(mode_select6(8), {0, 0, 0, 0, 0x19, 0x02, 0, 0});
    expect_sense(c, SenseKey::illegal_request, 0x26, 0x00);
    EXPECT_EQ(c.sense.field_pointer, 4);
}

TEST(ModeSelect, TruncatedListIsParameterListLengthError) {
    Harness h;
    expect_sense(h.run(mode_select6(3), {0, 0, 0}), SenseKey::illegal_request, 0x1a, 0x00);
    expect_sense(h.run(mode_select6(10), concat({{0, 0, 0, 0}, {0x0a, 0x0a, 0, 0x10, 0, 0}})),
                 SenseKey::illegal_request, 0x1a, 0x00);
}

TEST(ModeSelect, BlockDescriptorMustKeepBlockLength) {
    Harness h;
    expect_good(h.run(mode_select6(12), {0, 0, 0, 8, 0, 0, 0x04, 0x00, 0, 0, 0x02, 0x00}));
    const Command c = h.run(mode_select6(12), {0, 0, 0, 8, 0, 0, 0x04, 0x00, 0, 0, 0x10, 0x00});
    expect_sense(c, SenseKey::illegal_request, 0x26, 0x00);
    EXPECT_EQ(c.sense.field_pointer, 8);
}

TEST(ModeSelect, SaveAndVendorFormatAreRefused) {
    Harness h;
    expect_invalid_cdb_field(h.run(mode_select6(16, 0x11), concat({{0, 0, 0, 0}, kControl})), 1);
    expect_invalid_cdb_field(h.run(mode_select6(16, 0x00), concat({{0, 0, 0, 0}, kControl})), 1);
    expect_good(h.run(mode_select6(0, 0x00)));
}

TEST(ModeSelect, ResetRestoresDefaults) {
    Harness h;
    Bytes caching = kCaching;
    caching[2] = 0x00;
    expect_good(h.run(mode_select6(24), concat({{0, 0, 0, 0}, caching})));
    h.lu->reset();
    expect_sense(h.run(mode_sense6(0x08, 0, true)), SenseKey::unit_attention, 0x29, 0x03);
    EXPECT_EQ(bytes_of(h.run(mode_sense6(0x08, 0, true)))[6], 0x04);
}

}  // namespace
}  // namespace iscsikit::scsi::test
