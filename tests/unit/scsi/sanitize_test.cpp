#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

constexpr std::uint8_t kOverwrite = 0x01;
constexpr std::uint8_t kBlockErase = 0x02;
constexpr std::uint8_t kCryptoErase = 0x03;
constexpr std::uint8_t kExitFailureMode = 0x1f;
constexpr std::uint8_t kImmed = 0x80;
constexpr std::uint8_t kAuse = 0x20;
const Bytes kTestUnitReady{0x00, 0, 0, 0, 0, 0};

Bytes sanitize(std::uint8_t action, std::size_t list_length = 0, std::uint8_t flags = 0) {
    return {
        0x48, std::uint8_t(flags | action), 0, 0, 0, 0, 0, std::uint8_t(list_length >> 8), std::uint8_t(list_length),
        0};
}

// The OVERWRITE parameter list: INVERT, TEST, OVERWRITE COUNT; INITIALIZATION PATTERN LENGTH; pattern.
Bytes overwrite_list(std::uint8_t byte0, const Bytes& pattern) {
    Bytes list(4 + pattern.size());
    list[0] = byte0;
    list[2] = std::uint8_t(pattern.size() >> 8);
    list[3] = std::uint8_t(pattern.size());
    std::copy(pattern.begin(), pattern.end(), list.begin() + 4);
    return list;
}

// What the store holds at `offset`, read past the LU (the RAM store copies inline).
Bytes stored(Harness& h, std::uint64_t offset, std::size_t length) {
    std::vector<std::byte> raw(length);
    h.store().read(offset, ByteSpan(raw.data(), raw.size()), h.io, [](std::error_code) {});
    Bytes out(length);
    for (std::size_t i = 0; i < length; ++i) out[i] = std::to_integer<std::uint8_t>(raw[i]);
    return out;
}

void expect_in_progress(const Command& c, std::optional<std::uint16_t> progress = std::nullopt) {
    expect_sense(c, SenseKey::not_ready, 0x04, 0x1b);
    ASSERT_TRUE(c.sense.progress.has_value());
    if (progress) {
        EXPECT_EQ(*c.sense.progress, *progress);
    }
}

TEST(Sanitize, OverwriteRepeatsThePatternFromTheStartOfEveryBlock) {
    Harness h;  // 1024 blocks of 512 bytes
    expect_good(h.run(write10(0, 8), pattern(4096, 3)));
    expect_good(h.run(write10(1016, 8), pattern(4096, 5)));
    const Bytes pat{0x11, 0x22, 0x33};  // 512 is not a multiple of 3: each block cuts the last copy
    const Bytes list = overwrite_list(0x01, pat);
    expect_good(h.run(sanitize(kOverwrite, list.size()), list));

    Bytes block(512);
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = pat[i % pat.size()];
    const Bytes back = bytes_of(h.run(read10(0, 1024)));
    ASSERT_EQ(back.size(), 1024u * 512);
    for (std::size_t b = 0; b < 1024; ++b)
        ASSERT_TRUE(std::equal(block.begin(), block.end(), back.begin() + static_cast<std::ptrdiff_t>(b * 512))) << b;
    EXPECT_EQ(h.store().flushes, 1) << "the overwrite reaches the medium before GOOD";
}

TEST(Sanitize, OverwriteGoesInBoundedChunksPassAfterPass) {
    Harness h(ram(8192));  // 4 MiB: four chunks of 1 MiB per pass
    const Bytes list = overwrite_list(0x03, Bytes{0x5a});
    expect_good(h.run(sanitize(kOverwrite, list.size()), list));
    ASSERT_EQ(h.store().writes.size(), 12u);
    for (std::size_t i = 0; i < h.store().writes.size(); ++i) {
        EXPECT_EQ(h.store().writes[i].length, 1u << 20);
        EXPECT_EQ(h.store().writes[i].offset, (i % 4) << 20);
    }
    EXPECT_EQ(bytes_of(h.run(read10(8191, 1))), Bytes(512, 0x5a));
}

TEST(Sanitize, SanitizeRatePacesTheOverwriteWithTheEnginesTimer) {
    LuIdentity id = thin_identity();
    id.sanitize_bytes_per_second = 1u << 20;  // 1 MiB/s: chunk N waits until N seconds after the first
    Harness h(ram(8192), id);                 // 4 MiB: four chunks
    const Bytes list = overwrite_list(0x01, Bytes{0x5a});
    expect_good(h.run(sanitize(kOverwrite, list.size()), list));
    EXPECT_EQ(h.store().writes.size(), 4u);
    ASSERT_EQ(h.io.pauses.size(), 3u);
    for (std::size_t i = 0; i < h.io.pauses.size(); ++i) {
        const auto due = std::chrono::seconds(static_cast<std::int64_t>(i + 1));
        EXPECT_LE(h.io.pauses[i], due);
        EXPECT_GT(h.io.pauses[i], due - std::chrono::milliseconds(500));
    }
    expect_good(h.run(sanitize(kBlockErase)));  // deallocation is not paced
    EXPECT_EQ(h.io.pauses.size(), 3u);
}

TEST(Sanitize, InvertAlternatesThePatternAndTheLastPassWritesItAsGiven) {
    Harness h;
    const Bytes list = overwrite_list(0x80 | 0x02, Bytes{0x0f});  // INVERT, two passes
    expect_good(h.run_now(sanitize(kOverwrite, list.size(), kImmed), list));
    // The first pass is on the store (its completion waits): an even count starts inverted.
    ASSERT_EQ(h.store().writes.size(), 1u);
    EXPECT_EQ(stored(h, 0, 512), Bytes(512, 0xf0));
    ASSERT_TRUE(h.store().step());
    ASSERT_EQ(h.store().writes.size(), 2u);
    EXPECT_EQ(stored(h, 0, 512), Bytes(512, 0x0f));
    h.store().drain();
    expect_good(h.run(kTestUnitReady));
    EXPECT_EQ(bytes_of(h.run(read10(1023, 1))), Bytes(512, 0x0f));
}

TEST(Sanitize, ImmedAnswersAtOnceAndOtherCommandsGetNotReadyWithProgress) {
    Harness h(ram(8192));
    const Bytes list = overwrite_list(0x01, Bytes{0xaa});
    expect_good(h.run_now(sanitize(kOverwrite, list.size(), kImmed), list));
    expect_in_progress(h.run_now(kTestUnitReady), 0);
    ASSERT_TRUE(h.store().step());
    ASSERT_TRUE(h.store().step());  // two of the four chunks are done
    expect_in_progress(h.run_now(kTestUnitReady), 0x8000);
    expect_in_progress(h.run_now(read10(0, 1)));
    expect_in_progress(h.run_now({0x1b, 0x01, 0, 0, 0x01, 0}));                      // START STOP UNIT, IMMED
    expect_in_progress(h.run_now(sanitize(kOverwrite, list.size(), kImmed), list));  // one at a time
    expect_good(h.run_now({0x12, 0, 0, 0, 36, 0}));                                  // INQUIRY runs

    // REQUEST SENSE polls it: NOT READY, 04h/1Bh, SKSV and the progress indication.
    const Bytes fixed = bytes_of(h.run_now({0x03, 0, 0, 0, 18, 0}));
    ASSERT_EQ(fixed.size(), 18u);
    EXPECT_EQ(fixed[2], 0x02);
    EXPECT_EQ(fixed[12], 0x04);
    EXPECT_EQ(fixed[13], 0x1b);
    EXPECT_EQ(fixed[15], 0x80);
    EXPECT_EQ(fixed[16], 0x80);
    EXPECT_EQ(fixed[17], 0x00);
    const Bytes descriptor = bytes_of(h.run_now({0x03, 0x01, 0, 0, 252, 0}));
    ASSERT_EQ(descriptor.size(), 16u);
    EXPECT_EQ(descriptor[8], 0x02);  // sense key specific descriptor
    EXPECT_EQ(descriptor[12], 0x80);
    EXPECT_EQ(descriptor[13], 0x80);

    // A nexus that comes now learns of the sanitize before its POWER ON unit attention.
    expect_in_progress(h.run_now(kTestUnitReady, {}, 7));
    h.store().drain();
    expect_good(h.run(kTestUnitReady));
    expect_sense(h.run(kTestUnitReady, {}, 7), SenseKey::unit_attention, 0x29, 0x00);
    EXPECT_EQ(bytes_of(h.run(read10(4000, 1))), Bytes(512, 0xaa));
}

TEST(Sanitize, ContinuesThroughALogicalUnitReset) {
    Harness h;
    const Bytes list = overwrite_list(0x01, Bytes{0x77});
    expect_good(h.run_now(sanitize(kOverwrite, list.size(), kImmed), list));
    h.lu->reset();
    expect_in_progress(h.run_now(kTestUnitReady));
    h.store().drain();
    expect_sense(h.run(kTestUnitReady), SenseKey::unit_attention, 0x29, 0x03);
    EXPECT_EQ(bytes_of(h.run(read10(0, 1))), Bytes(512, 0x77));
}

TEST(Sanitize, OverwriteParameterListIsCheckedBeforeAnythingIsWritten) {
    Harness h;
    const Bytes list = overwrite_list(0x01, Bytes(512, 0xaa));
    // PARAMETER LIST LENGTH: more than the 4-byte header, at most a block more.
    for (std::size_t n = 0; n <= 4; ++n) expect_invalid_cdb_field(h.run(sanitize(kOverwrite, n), list), 7);
    expect_invalid_cdb_field(h.run(sanitize(kOverwrite, 517), Bytes(520, 0)), 7);
    expect_invalid_parameter_list_field(h.run(sanitize(kOverwrite, 516), overwrite_list(0x00, Bytes(512, 0xaa))),
                                        0);  // count 0
    expect_invalid_parameter_list_field(h.run(sanitize(kOverwrite, 516), overwrite_list(0x21, Bytes(512, 0xaa))),
                                        0);  // TEST
    Bytes empty = list;                      // INITIALIZATION PATTERN LENGTH 0
    empty[2] = empty[3] = 0;
    expect_invalid_parameter_list_field(h.run(sanitize(kOverwrite, 516), empty), 2);
    Bytes too_long = list;  // longer than the list holds, and than a block
    too_long[2] = 0x02;
    too_long[3] = 0x04;
    expect_invalid_parameter_list_field(h.run(sanitize(kOverwrite, 516), too_long), 2);
    Bytes beyond_list = overwrite_list(0x01, Bytes(8, 0xaa));  // 8 bytes claimed, 4 in the list
    expect_invalid_parameter_list_field(h.run(sanitize(kOverwrite, 8), beyond_list), 2);
    EXPECT_TRUE(h.store().writes.empty());
    expect_good(h.run(kTestUnitReady));
}

TEST(Sanitize, ReservedCdbFieldsAndUnknownServiceActionsAreRefused) {
    Harness h(ram(), thin_identity());
    Bytes znr = sanitize(kBlockErase);
    znr[1] |= 0x40;
    expect_invalid_cdb_field(h.run(znr), 1);
    for (std::size_t i = 2; i <= 6; ++i) {
        Bytes c = sanitize(kBlockErase);
        c[i] = 1;
        expect_invalid_cdb_field(h.run(c), static_cast<std::uint16_t>(i));
    }
    for (std::uint8_t action : {0x00, 0x04, 0x10, 0x1e}) expect_invalid_cdb_field(h.run(sanitize(action)), 1);
    // Only OVERWRITE has a parameter list.
    for (std::uint8_t action : {kBlockErase, kCryptoErase, kExitFailureMode})
        expect_invalid_cdb_field(h.run(sanitize(action, 8), Bytes(8, 0)), 7);
    EXPECT_TRUE(h.store().unmaps.empty());
}

TEST(Sanitize, ErasesDeallocateEveryBlockOfAThinLu) {
    for (std::uint8_t action : {kBlockErase, kCryptoErase}) {
        Harness h(ram(), thin_identity());
        expect_good(h.run(write10(0, 8), pattern(4096, 3)));
        expect_good(h.run(write10(1016, 8), pattern(4096, 5)));
        expect_good(h.run(sanitize(action)));
        std::uint64_t covered = 0;
        for (const auto& u : h.store().unmaps) {
            EXPECT_EQ(u.offset, covered);
            covered += u.length;
        }
        EXPECT_EQ(covered, 1024u * 512);
        EXPECT_EQ(bytes_of(h.run(read10(0, 1024))), Bytes(1024u * 512, 0));
    }
}

TEST(Sanitize, ErasesAreOfferedOnThinLusOnly) {
    Harness h;
    expect_invalid_cdb_field(h.run(sanitize(kBlockErase)), 1);
    expect_invalid_cdb_field(h.run(sanitize(kCryptoErase)), 1);
    // REPORT SUPPORTED OPERATION CODES, one service action: SUPPORT 011b or 001b.
    auto support = [](Harness& lu, std::uint8_t action) {
        const Bytes d = bytes_of(lu.run({0xa3, 0x0c, 0x02, 0x48, 0x00, action, 0, 0, 1, 0, 0, 0}));
        return d.size() >= 2 ? d[1] & 0x07 : -1;
    };
    EXPECT_EQ(support(h, kOverwrite), 3);
    EXPECT_EQ(support(h, kExitFailureMode), 3);
    EXPECT_EQ(support(h, kBlockErase), 1);
    Harness thin(ram(), thin_identity());
    EXPECT_EQ(support(thin, kBlockErase), 3);
    EXPECT_EQ(support(thin, kCryptoErase), 3);
    // Block Device Characteristics: WABEREQ and WACEREQ 01b where the erases exist.
    EXPECT_EQ(bytes_of(h.run({0x12, 0x01, 0xb1, 0, 64, 0}))[7], 0x00);
    EXPECT_EQ(bytes_of(thin.run({0x12, 0x01, 0xb1, 0, 64, 0}))[7], 0x50);
}

TEST(Sanitize, WriteProtectedLuRefusesWithDataProtect) {
    Harness h(ram(1024, 512, true));
    const Bytes list = overwrite_list(0x01, Bytes{0xaa});
    expect_sense(h.run(sanitize(kOverwrite, list.size()), list), SenseKey::data_protect, 0x27, 0x00);
    EXPECT_TRUE(h.store().writes.empty());
    expect_good(h.run(sanitize(kExitFailureMode)));  // changes no block
}

TEST(Sanitize, FailureWithAuseIsLeftByExitFailureMode) {
    Harness h;
    expect_good(h.run(sanitize(kExitFailureMode)));  // no failure: nothing to leave
    h.store().write_error = std::make_error_code(std::errc::io_error);
    const Bytes list = overwrite_list(0x01, Bytes{0xaa});
    expect_sense(h.run(sanitize(kOverwrite, list.size(), kAuse), list), SenseKey::medium_error, 0x31, 0x03);
    h.store().write_error = {};
    expect_sense(h.run(kTestUnitReady), SenseKey::medium_error, 0x31, 0x03);
    expect_sense(h.run(read10(0, 1)), SenseKey::medium_error, 0x31, 0x03);
    expect_good(h.run({0x12, 0, 0, 0, 36, 0}));
    EXPECT_EQ(bytes_of(h.run({0x03, 0, 0, 0, 18, 0}))[12], 0x31);
    expect_good(h.run(sanitize(kExitFailureMode)));
    expect_good(h.run(kTestUnitReady));
}

TEST(Sanitize, FailureWithoutAuseIsLeftOnlyByASanitizeThatSucceeds) {
    Harness h;
    h.store().write_error = std::make_error_code(std::errc::io_error);
    const Bytes list = overwrite_list(0x01, Bytes{0xaa});
    expect_sense(h.run(sanitize(kOverwrite, list.size()), list), SenseKey::medium_error, 0x31, 0x03);
    h.store().write_error = {};
    expect_invalid_cdb_field(h.run(sanitize(kExitFailureMode)), 1);
    expect_invalid_cdb_field(h.run(sanitize(kOverwrite, list.size(), kAuse), list), 1);
    expect_sense(h.run(kTestUnitReady), SenseKey::medium_error, 0x31, 0x03);
    expect_good(h.run(sanitize(kOverwrite, list.size()), list));
    expect_good(h.run(kTestUnitReady));
    EXPECT_EQ(bytes_of(h.run(read10(0, 1))), Bytes(512, 0xaa));
}

}  // namespace
}  // namespace iscsikit::scsi::test
