#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

const Bytes kTur{0x00, 0, 0, 0, 0, 0};
const Bytes kReportLuns{0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0};

Bytes request_sense(bool desc = false, std::uint8_t allocation = 252) {
    return {0x03, std::uint8_t(desc), 0, 0, allocation, 0};
}

TEST(UnitAttention, EachNexusSeesPowerOnOnce) {
    Harness h;
    expect_sense(h.run(read10(0, 1), {}, 2), SenseKey::unit_attention, 0x29, 0x00);
    expect_good(h.run(read10(0, 1), {}, 2));
    expect_good(h.run(kTur, {}, 1));
}

TEST(UnitAttention, InquiryReportLunsAndRequestSenseDoNotReportIt) {
    Harness h;
    expect_good(h.run({0x12, 0, 0, 0, 36, 0}, {}, 2));
    expect_good(h.run(kReportLuns, {}, 2));
    // REQUEST SENSE returns the pending UA as its data (and so clears it).
    const Command c = h.run(request_sense(), {}, 2);
    expect_good(c);
    EXPECT_EQ(bytes_of(c), (Bytes{0x70, 0, 0x06, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x29, 0x00, 0, 0, 0, 0}));
    expect_good(h.run(kTur, {}, 2));
}

TEST(UnitAttention, RequestSenseWithoutConditionIsNoSense) {
    Harness h;
    EXPECT_EQ(bytes_of(h.run(request_sense())), (Bytes{0x70, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(bytes_of(h.run(request_sense(true))), (Bytes{0x72, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(bytes_of(h.run(request_sense(false, 8))).size(), 8u);
}

TEST(UnitAttention, ResetReachesEveryNexus) {
    Harness h;
    h.clear_power_on(2);
    h.lu->reset();
    expect_sense(h.run(kTur, {}, 1), SenseKey::unit_attention, 0x29, 0x03);
    expect_sense(h.run(kTur, {}, 2), SenseKey::unit_attention, 0x29, 0x03);
    expect_good(h.run(kTur, {}, 1));
}

TEST(UnitAttention, AllExceptOneNexus) {
    Harness h;
    h.clear_power_on(2);
    h.lu->unit_attention_all(0x2a, 0x09, 1);  // CAPACITY DATA HAS CHANGED
    expect_good(h.run(kTur, {}, 1));
    expect_sense(h.run(kTur, {}, 2), SenseKey::unit_attention, 0x2a, 0x09);
    expect_good(h.run(kTur, {}, 2));
}

TEST(UnitAttention, QueuedConditionsComeOldestFirstAndResetGoesFirst) {
    Harness h;
    h.lu->unit_attention_all(0x2a, 0x09);
    h.lu->unit_attention_all(0x2a, 0x01);
    h.lu->unit_attention_all(0x2a, 0x09);  // duplicate: reported once
    h.lu->reset();
    expect_sense(h.run(kTur), SenseKey::unit_attention, 0x29, 0x03);
    expect_sense(h.run(kTur), SenseKey::unit_attention, 0x2a, 0x09);
    expect_sense(h.run(kTur), SenseKey::unit_attention, 0x2a, 0x01);
    expect_good(h.run(kTur));
}

TEST(UnitAttention, ForgottenNexusStartsOver) {
    Harness h;
    h.lu->forget_nexus(1);
    expect_sense(h.run(kTur), SenseKey::unit_attention, 0x29, 0x00);
    expect_good(h.run(kTur));
}

TEST(UnitAttention, CommandWithUnitAttentionIsNotExecuted) {
    Harness h;
    h.lu->unit_attention_all(0x2a, 0x09);
    expect_sense(h.run(write10(0, 1), pattern(512, 1)), SenseKey::unit_attention, 0x2a, 0x09);
    EXPECT_TRUE(h.store().writes.empty());
}

TEST(UnitAttention, ManyNexusesEachGetTheirOwn) {
    Harness h;
    for (std::uint64_t n = 100; n < 700; ++n) expect_sense(h.run(kTur, {}, n), SenseKey::unit_attention, 0x29, 0x00);
    for (std::uint64_t n = 100; n < 700; ++n) expect_good(h.run(kTur, {}, n));
    for (std::uint64_t n = 100; n < 700; n += 2) h.lu->forget_nexus(n);
    for (std::uint64_t n = 100; n < 700; ++n) {
        const Command c = h.run(kTur, {}, n);
        if (n % 2 == 0)
            expect_sense(c, SenseKey::unit_attention, 0x29, 0x00);
        else
            expect_good(c);
    }
    for (std::uint64_t edge : {~0ull, ~0ull - 1, 0ull}) {  // ids the lock-free set cannot hold
        expect_sense(h.run(kTur, {}, edge), SenseKey::unit_attention, 0x29, 0x00);
        expect_good(h.run(kTur, {}, edge));
    }
}

TEST(Reservation, OtherNexusGetsConflictExceptForExemptCommands) {
    Harness h;
    h.clear_power_on(2);
    const Bytes reserve{0x16, 0, 0, 0, 0, 0}, release{0x17, 0, 0, 0, 0, 0};
    expect_good(h.run(reserve, {}, 1));
    expect_good(h.run(reserve, {}, 1));  // the holder may reserve again
    EXPECT_EQ(h.run(reserve, {}, 2).status, Status::reservation_conflict);
    EXPECT_EQ(h.run({0x1a, 0, 0x3f, 0, 255, 0}, {}, 2).status, Status::reservation_conflict);
    EXPECT_EQ(h.run(read10(0, 1), {}, 2).status, Status::reservation_conflict);
    expect_good(h.run({0x12, 0, 0, 0, 36, 0}, {}, 2));
    expect_good(h.run(kReportLuns, {}, 2));
    expect_good(h.run(release, {}, 2));  // not the holder: a no-op
    expect_good(h.run(read10(0, 1), {}, 1));
    expect_good(h.run(release, {}, 1));
    expect_good(h.run(reserve, {}, 2));
    expect_good(h.run(release, {}, 2));
}

TEST(Reservation, ReleasedByNexusLossAndReset) {
    Harness h;
    h.clear_power_on(2);
    const Bytes reserve{0x16, 0, 0, 0, 0, 0};
    expect_good(h.run(reserve, {}, 1));
    h.lu->forget_nexus(1);
    expect_good(h.run(reserve, {}, 2));
    h.lu->reset();
    expect_sense(h.run(kTur, {}, 1), SenseKey::unit_attention, 0x29, 0x00);
    expect_good(h.run(kTur, {}, 1));
}

TEST(Reservation, Reserve10AndRelease10AreTheReserve6Reservation) {
    Harness h;
    h.clear_power_on(2);
    const Bytes reserve6{0x16, 0, 0, 0, 0, 0}, release6{0x17, 0, 0, 0, 0, 0};
    const Bytes reserve10{0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0}, release10{0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_good(h.run(reserve10, {}, 1));
    expect_good(h.run(reserve6, {}, 1));  // the same reservation, held again
    EXPECT_EQ(h.run(reserve6, {}, 2).status, Status::reservation_conflict);
    EXPECT_EQ(h.run(reserve10, {}, 2).status, Status::reservation_conflict);
    EXPECT_EQ(h.run(read10(0, 1), {}, 2).status, Status::reservation_conflict);
    expect_good(h.run(release10, {}, 2));  // not the holder: a no-op
    EXPECT_EQ(h.run(read10(0, 1), {}, 2).status, Status::reservation_conflict);
    expect_good(h.run(release6, {}, 1));
    expect_good(h.run(reserve6, {}, 2));
    expect_good(h.run(release10, {}, 2));
    expect_good(h.run(read10(0, 1), {}, 1));
}

TEST(Reservation, Reserve10ThirdPartyLongIdAndParameterDataAreInvalidFieldsInTheCdb) {
    Harness h;
    for (const std::uint8_t opcode : {0x56, 0x57}) {
        Bytes third_party{opcode, 0x10, 0, 7, 0, 0, 0, 0, 0, 0};
        const Command a = h.run(third_party);
        expect_invalid_cdb_field(a, 1);
        EXPECT_EQ(a.sense.bit_pointer, std::optional<std::uint8_t>(4));
        const Command b = h.run({opcode, 0x02, 0, 0, 0, 0, 0, 0, 8, 0}, Bytes(8, 0));
        expect_invalid_cdb_field(b, 1);
        EXPECT_EQ(b.sense.bit_pointer, std::optional<std::uint8_t>(1));
        expect_invalid_cdb_field(h.run({opcode, 0x01, 0, 0, 0, 0, 0, 0, 0, 0}), 1);  // EXTENT (obsolete)
        expect_invalid_cdb_field(h.run({opcode, 0, 0, 0, 0, 0, 0, 0, 8, 0}), 7);
    }
    // None of them reserved anything.
    h.clear_power_on(2);
    expect_good(h.run(read10(0, 1), {}, 2));
}

}  // namespace
}  // namespace iscsikit::scsi::test
