#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

const Bytes kTur{0x00, 0, 0, 0, 0, 0};

Bytes start_stop(bool start, bool load_eject, std::uint8_t power_condition = 0, bool no_flush = false) {
    return {
        0x1b, 0, 0, 0, std::uint8_t(power_condition << 4 | (no_flush ? 4 : 0) | (load_eject ? 2 : 0) | (start ? 1 : 0)),
        0};
}
Bytes prevent(std::uint8_t value) { return {0x1e, 0, 0, 0, value, 0}; }

Harness removable() {
    LuIdentity id = identity();
    id.removable = true;
    return Harness(ram(), id);
}

TEST(StartStopUnit, StoppedUnitRefusesMediaAccessUntilStarted) {
    Harness h;
    expect_good(h.run(start_stop(false, false)));
    EXPECT_EQ(h.store().flushes, 1);  // NO_FLUSH 0: cached data goes to the medium first
    expect_sense(h.run(read10(0, 1)), SenseKey::not_ready, 0x04, 0x02);
    expect_sense(h.run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}), SenseKey::not_ready, 0x04, 0x02);
    expect_good(h.run(kTur));
    expect_good(h.run({0x12, 0, 0, 0, 36, 0}));
    expect_good(h.run(start_stop(true, false)));
    expect_good(h.run(read10(0, 1)));
}

TEST(StartStopUnit, PowerConditionsAreAcceptedAndChangeNothing) {
    Harness h = removable();
    for (std::uint8_t pc = 1; pc < 16; ++pc) {
        expect_good(h.run(start_stop(false, true, pc)));
        expect_good(h.run(kTur));
    }
}

TEST(StartStopUnit, EjectOnlyForRemovableMedia) {
    Harness fixed;
    expect_invalid_cdb_field(fixed.run(start_stop(false, true)), 4);

    Harness h = removable();
    expect_good(h.run(start_stop(false, true)));
    expect_sense(h.run(kTur), SenseKey::not_ready, 0x3a, 0x00);
    expect_sense(h.run(read10(0, 1)), SenseKey::not_ready, 0x3a, 0x00);
    expect_sense(h.run(cdb16(0x9e, 0, 32, 0x10)), SenseKey::not_ready, 0x3a, 0x00);
    expect_sense(h.run({0x35, 0, 0, 0, 0, 0, 0, 0, 1, 0}), SenseKey::not_ready, 0x3a, 0x00);
    expect_sense(h.run(start_stop(true, false)), SenseKey::not_ready, 0x3a, 0x00);
    const Command sense = h.run({0x03, 0, 0, 0, 18, 0});
    EXPECT_EQ(bytes_of(sense)[2], 0x02);
    EXPECT_EQ(bytes_of(sense)[12], 0x3a);
    expect_good(h.run(start_stop(true, true)));
    expect_good(h.run(kTur));
}

TEST(PreventAllow, PreventedRemovalBlocksEjectAndLoadForEveryNexus) {
    Harness h = removable();
    h.clear_power_on(2);
    expect_good(h.run(prevent(1)));
    expect_sense(h.run(start_stop(false, true)), SenseKey::illegal_request, 0x53, 0x02);
    expect_sense(h.run(start_stop(false, true), {}, 2), SenseKey::illegal_request, 0x53, 0x02);
    expect_good(h.run(kTur));
    expect_good(h.run(prevent(0)));
    expect_good(h.run(start_stop(false, true)));
    expect_sense(h.run(kTur), SenseKey::not_ready, 0x3a, 0x00);
    expect_good(h.run(prevent(1)));
    expect_sense(h.run(start_stop(true, true)), SenseKey::illegal_request, 0x53, 0x02);
    expect_good(h.run(prevent(0)));
    expect_good(h.run(start_stop(true, true)));
    expect_invalid_cdb_field(h.run(prevent(2)), 4);
}

TEST(PreventAllow, ClearedByNexusLossAndReset) {
    Harness h = removable();
    expect_good(h.run(prevent(1)));
    h.lu->forget_nexus(1);
    h.clear_power_on(1);
    expect_good(h.run(start_stop(false, true)));
    expect_good(h.run(start_stop(true, true)));
    expect_good(h.run(prevent(1)));
    h.lu->reset();
    h.clear_power_on(1);
    expect_good(h.run(start_stop(false, true)));
}

TEST(ReadCapacity, TenAndSixteen) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0})), (Bytes{0, 0, 0x03, 0xff, 0, 0, 0x02, 0}));
    Bytes sixteen(32, 0);
    sixteen[6] = 0x03, sixteen[7] = 0xff, sixteen[10] = 0x02, sixteen[13] = 0x03;  // LBPPBE 3: 4 KiB physical
    EXPECT_EQ(bytes_of(h.run(cdb16(0x9e, 0, 32, 0x10))), sixteen);
    for (std::uint32_t n : {0u, 8u, 12u, 15u}) EXPECT_EQ(h.run(cdb16(0x9e, 0, n, 0x10)).data_in_length, n);
    expect_invalid_cdb_field(h.run({0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0}), 2);
    expect_good(h.run({0x25, 0, 0, 0, 0, 1, 0, 0, 1, 0}));  // PMI
}

TEST(ReadCapacity, HugeCapacityNeedsSixteen) {
    // 2^32 + 8 blocks of 512 would be 2 TiB of RAM: fake the size with a tiny store wrapper.
    struct Huge final : backstore::Backstore {
        std::string describe() const override { return "huge"; }
        std::uint64_t size_bytes() const override { return (std::uint64_t{1} << 32) * 4096 + 8 * 4096; }
        std::uint32_t block_size() const override { return 4096; }
        bool read_only() const override { return true; }
        void read(std::uint64_t, ByteSpan, IoEngine&, IoCallback done) override {
            done(std::make_error_code(std::errc::io_error));
        }
        void write(std::uint64_t, ConstByteSpan, bool, IoEngine&, IoCallback done) override {
            done(std::make_error_code(std::errc::read_only_file_system));
        }
        void flush(IoEngine&, IoCallback done) override { done(std::error_code{}); }
    };
    Harness h(std::make_unique<Huge>());
    EXPECT_EQ(bytes_of(h.run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0})), (Bytes{0xff, 0xff, 0xff, 0xff, 0, 0, 0x10, 0}));
    const Bytes b = bytes_of(h.run(cdb16(0x9e, 0, 12, 0x10)));
    EXPECT_EQ(b, (Bytes{0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0x10, 0}));
    expect_sense(h.run(read10(0, 1)), SenseKey::medium_error, 0x11, 0x00);
}

TEST(ReadDefectData, EmptyListsInRequestedFormat) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run({0x37, 0, 0x18 | 0x05, 0, 0, 0, 0, 0, 32, 0})), (Bytes{0, 0x1d, 0, 0}));
    EXPECT_EQ(bytes_of(h.run({0xb7, 0x10, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0})), (Bytes{0, 0x10, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(h.run({0x37, 0, 0, 0, 0, 0, 0, 0, 2, 0}).data_in_length, 2u);
}

TEST(SynchronizeCache, FlushesAndChecksRange) {
    Harness h;
    expect_good(h.run({0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    expect_good(h.run(cdb16(0x91, 1000, 24, 0x02)));
    EXPECT_EQ(h.store().flushes, 2);
    expect_sense(h.run(cdb16(0x91, 1000, 25)), SenseKey::illegal_request, 0x21, 0x00);
    expect_sense(h.run({0x35, 0, 0, 0, 0x04, 0x01, 0, 0, 0, 0}), SenseKey::illegal_request, 0x21, 0x00);
}

TEST(PreFetch, ChecksRangeOnly) {
    Harness h;
    expect_good(h.run({0x34, 0x02, 0, 0, 0, 0, 3, 0, 1, 0}));
    expect_good(h.run(cdb16(0x90, 1024, 0)));
    expect_sense(h.run(cdb16(0x90, 1025, 0)), SenseKey::illegal_request, 0x21, 0x00);
    expect_sense(h.run({0x34, 0, 0, 0, 0x03, 0xff, 0, 0, 2, 0}), SenseKey::illegal_request, 0x21, 0x00);
}

Bytes rsoc(std::uint8_t options, std::uint8_t opcode = 0, std::uint16_t sa = 0, bool rctd = false) {
    return {0xa3,
            0x0c,
            std::uint8_t((rctd ? 0x80 : 0) | options),
            opcode,
            std::uint8_t(sa >> 8),
            std::uint8_t(sa),
            0,
            0,
            0x10,
            0,
            0,
            0};
}

TEST(ReportSupportedOperationCodes, AllCommandsListsTheTable) {
    Harness h;
    const Bytes all = bytes_of(h.run(rsoc(0)));
    const std::uint32_t length = (all[0] << 24) | (all[1] << 16) | (all[2] << 8) | all[3];
    ASSERT_EQ(length + 4, all.size());
    ASSERT_EQ(length % 8, 0u);
    bool saw_read16 = false, saw_rc16 = false, saw_get_lba_status = false, saw_unmap = false;
    for (std::size_t at = 4; at < all.size(); at += 8) {
        if (all[at] == 0x88) {
            saw_read16 = true;
            EXPECT_EQ((Bytes{all.begin() + at, all.begin() + at + 8}), (Bytes{0x88, 0, 0, 0, 0, 0x00, 0, 16}));
        }
        if (all[at] == 0x9e && all[at + 3] == 0x10) {
            saw_rc16 = true;
            EXPECT_EQ((Bytes{all.begin() + at, all.begin() + at + 8}), (Bytes{0x9e, 0, 0, 0x10, 0, 0x01, 0, 16}));
        }
        if (all[at] == 0x9e && all[at + 3] == 0x12) {
            saw_get_lba_status = true;
            EXPECT_EQ((Bytes{all.begin() + at, all.begin() + at + 8}), (Bytes{0x9e, 0, 0, 0x12, 0, 0x01, 0, 16}));
        }
        if (all[at] == 0x42) saw_unmap = true;
        if (!(all[at + 5] & 0x01)) {
            EXPECT_EQ(all[at + 2] | all[at + 3], 0);  // no SA without SERVACTV
        }
    }
    EXPECT_TRUE(saw_read16 && saw_rc16 && saw_get_lba_status);
    EXPECT_FALSE(saw_unmap);  // a fully provisioned LU has no UNMAP
}

TEST(ReportSupportedOperationCodes, ThinLuListsUnmap) {
    Harness h(ram(), thin_identity());
    const Bytes all = bytes_of(h.run(rsoc(0)));
    bool saw_unmap = false;
    for (std::size_t at = 4; at < all.size(); at += 8)
        if (all[at] == 0x42) {
            saw_unmap = true;
            EXPECT_EQ((Bytes{all.begin() + at, all.begin() + at + 8}), (Bytes{0x42, 0, 0, 0, 0, 0x00, 0, 10}));
        }
    EXPECT_TRUE(saw_unmap);
    EXPECT_EQ(bytes_of(h.run(rsoc(1, 0x42))), (Bytes{0, 0x03, 0, 10, 0x42, 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04}));
    Harness full;
    EXPECT_EQ(bytes_of(full.run(rsoc(1, 0x42))), (Bytes{0, 0x01, 0, 0}));
    EXPECT_EQ(bytes_of(full.run(rsoc(3, 0x42))), (Bytes{0, 0x01, 0, 0}));
}

TEST(ReportSupportedOperationCodes, TimeoutDescriptors) {
    Harness h;
    const Bytes all = bytes_of(h.run(rsoc(0, 0, 0, true)));
    ASSERT_EQ((all.size() - 4) % 20, 0u);
    for (std::size_t at = 4; at < all.size(); at += 20) {
        EXPECT_EQ(all[at + 5] & 0x02, 0x02);  // CTDP
        EXPECT_EQ(all[at + 8], 0x00);
        EXPECT_EQ(all[at + 9], 0x0a);  // descriptor length
    }
}

TEST(ReportSupportedOperationCodes, OneCommand) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(rsoc(1, 0x28))),
              (Bytes{0, 0x03, 0, 10, 0x28, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x04}));
    EXPECT_EQ(bytes_of(h.run(rsoc(1, 0x8c))), (Bytes{0, 0x01, 0, 0}));  // not supported (READ ATTRIBUTE)
    // COMPARE AND WRITE: DPO and FUA in its usage data, as MODE SENSE's DPOFUA promises.
    const Bytes compare = bytes_of(h.run(rsoc(1, 0x89)));
    ASSERT_EQ(compare.size(), 20u);
    EXPECT_EQ(compare[5] & 0x18, 0x18);
    expect_invalid_cdb_field(h.run(rsoc(1, 0x9e)), 2);  // has service actions
    expect_invalid_cdb_field(h.run(rsoc(2, 0x28)), 2);  // has none
    const Bytes rc16 = bytes_of(h.run(rsoc(2, 0x9e, 0x10)));
    EXPECT_EQ((Bytes{rc16.begin(), rc16.begin() + 6}), (Bytes{0, 0x03, 0, 16, 0x9e, 0x10}));
    EXPECT_EQ(bytes_of(h.run(rsoc(2, 0x9e, 0x12))),
              (Bytes{0,    0x03, 0,    16,   0x9e, 0x12, 0xff, 0xff, 0xff, 0xff,
                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}));  // GET LBA STATUS
    EXPECT_EQ(bytes_of(h.run(rsoc(2, 0x9e, 0x13))), (Bytes{0, 0x01, 0, 0}));
    const Bytes timed = bytes_of(h.run(rsoc(1, 0x00, 0, true)));
    EXPECT_EQ(timed, (Bytes{0, 0x83, 0, 6, 0, 0, 0, 0, 0, 0x04, 0, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60}));
    expect_invalid_cdb_field(h.run(rsoc(4)), 2);
}

}  // namespace
}  // namespace iscsikit::scsi::test
