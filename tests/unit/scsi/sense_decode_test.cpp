// Decoding sense data an initiator receives (SPC-4 4.5): golden fixed and descriptor bytes, round
// trips through the target's own encoders, and the words for keys, statuses and codes.
#include "scsi/sense_decode.hpp"

#include <gtest/gtest.h>

namespace iscsikit::scsi {
namespace {

using Bytes = std::vector<std::uint8_t>;

void expect_same(const Sense& a, const Sense& b) {
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.asc, b.asc);
    EXPECT_EQ(a.ascq, b.ascq);
    EXPECT_EQ(a.information, b.information);
    EXPECT_EQ(a.field_pointer, b.field_pointer);
    if (a.field_pointer) {
        EXPECT_EQ(a.field_in_cdb, b.field_in_cdb);
    }
    EXPECT_EQ(a.bit_pointer, b.bit_pointer);
}

Sense decoded(const Bytes& data) {
    auto s = decode_sense(data);
    EXPECT_TRUE(s);
    return s.value_or(Sense{});
}

// ---- fixed format ----

TEST(DecodeFixed, KeyCodesAndFieldPointer) {
    // ILLEGAL REQUEST, INVALID FIELD IN CDB, SKSV + C/D + BPV, bit 3 of CDB byte 0102h.
    const Bytes d{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0x00, 0, 0xcb, 0x01, 0x02};
    const Sense s = decoded(d);
    EXPECT_EQ(s.key, SenseKey::illegal_request);
    EXPECT_EQ(s.asc, 0x24);
    EXPECT_EQ(s.ascq, 0x00);
    EXPECT_FALSE(s.information);
    EXPECT_EQ(s.field_pointer, std::optional<std::uint16_t>(0x0102));
    EXPECT_TRUE(s.field_in_cdb);
    EXPECT_EQ(s.bit_pointer, std::optional<std::uint8_t>(3));
}

TEST(DecodeFixed, ParameterListFieldWithoutBitPointer) {
    const Bytes d{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x26, 0x00, 0, 0x80, 0x00, 0x10};
    const Sense s = decoded(d);
    EXPECT_EQ(s.field_pointer, std::optional<std::uint16_t>(0x10));
    EXPECT_FALSE(s.field_in_cdb);
    EXPECT_FALSE(s.bit_pointer);
}

TEST(DecodeFixed, InformationOnlyWhenValid) {
    Bytes d{0xf0, 0, 0x0e, 0x00, 0x01, 0x02, 0x03, 0x0a, 0, 0, 0, 0, 0x1d, 0x00, 0, 0, 0, 0};
    EXPECT_EQ(decoded(d).information, std::optional<std::uint64_t>(0x00010203));
    EXPECT_EQ(decoded(d).key, SenseKey::miscompare);
    d[0] = 0x70;  // VALID clear: the field means nothing
    EXPECT_FALSE(decoded(d).information);
}

TEST(DecodeFixed, DeferredErrorsAndFilemarkBits) {
    // 71h deferred; FILEMARK/EOM/ILI (byte 2 bits 7-5) do not leak into the key.
    const Bytes d{0x71, 0, 0xe3, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x11, 0x00, 0, 0, 0, 0};
    const Sense s = decoded(d);
    EXPECT_EQ(s.key, SenseKey::medium_error);
    EXPECT_EQ(s.asc, 0x11);
}

TEST(DecodeFixed, FieldPointerOnlyForIllegalRequest) {
    // NOT READY uses the sense-key-specific bytes for progress indication.
    const Bytes d{0x70, 0, 0x02, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x04, 0x04, 0, 0x80, 0x40, 0x00};
    EXPECT_FALSE(decoded(d).field_pointer);
    // SKSV clear: no field pointer either.
    const Bytes e{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0x00, 0, 0x40, 0x00, 0x02};
    EXPECT_FALSE(decoded(e).field_pointer);
}

TEST(DecodeFixed, ShortDataKeepsWhatItHas) {
    const Sense s = decoded({0x70, 0x00, 0x06});
    EXPECT_EQ(s.key, SenseKey::unit_attention);
    EXPECT_EQ(s.asc, 0);
    EXPECT_EQ(decoded({0x70, 0, 0x06, 0, 0, 0, 0, 0x06, 0, 0, 0, 0, 0x29, 0x07}).ascq, 0x07);
    // ADDITIONAL SENSE LENGTH 4: the ASC and ASCQ bytes that follow are not sense data.
    const Sense cut = decoded({0x70, 0, 0x06, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x29, 0x07});
    EXPECT_EQ(cut.asc, 0);
    EXPECT_EQ(cut.ascq, 0);
}

// ---- descriptor format ----

TEST(DecodeDescriptor, InformationAndSenseKeySpecific) {
    // clang-format off
    const Bytes d{0x72, 0x05, 0x21, 0x00, 0, 0, 0, 20,
                  0x00, 0x0a, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x12, 0x34,  // information
                  0x02, 0x06, 0x00, 0x00, 0xcf, 0x00, 0x0a, 0x00};                         // field pointer
    // clang-format on
    const Sense s = decoded(d);
    EXPECT_EQ(s.key, SenseKey::illegal_request);
    EXPECT_EQ(s.asc, 0x21);
    EXPECT_EQ(s.information, std::optional<std::uint64_t>(0x100001234));
    EXPECT_EQ(s.field_pointer, std::optional<std::uint16_t>(0x0a));
    EXPECT_TRUE(s.field_in_cdb);
    EXPECT_EQ(s.bit_pointer, std::optional<std::uint8_t>(7));
}

TEST(DecodeDescriptor, OtherDescriptorsAreSkipped) {
    // clang-format off
    const Bytes d{0x73, 0x0b, 0x47, 0x05, 0, 0, 0, 28,
                  0x01, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9,        // command-specific information
                  0x80, 0x02, 0xaa, 0xbb,                          // vendor specific
                  0x00, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 5};    // information, VALID clear
    // clang-format on
    const Sense s = decoded(d);
    EXPECT_EQ(s.key, SenseKey::aborted_command);
    EXPECT_EQ(s.asc, 0x47);
    EXPECT_EQ(s.ascq, 0x05);
    EXPECT_FALSE(s.information);
    EXPECT_FALSE(s.field_pointer);
}

TEST(DecodeDescriptor, TruncatedDescriptorIsIgnored) {
    // The information descriptor runs past ADDITIONAL SENSE LENGTH.
    const Bytes d{0x72, 0x03, 0x11, 0x00, 0, 0, 0, 8, 0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const Sense s = decoded(d);
    EXPECT_EQ(s.key, SenseKey::medium_error);
    EXPECT_FALSE(s.information);
    EXPECT_EQ(decoded({0x72, 0x06}).key, SenseKey::unit_attention);
}

TEST(DecodeSense, RejectsWhatIsNotSense) {
    EXPECT_FALSE(decode_sense({}));
    EXPECT_FALSE(decode_sense(Bytes{0x70, 0x00}));  // no sense key
    EXPECT_FALSE(decode_sense(Bytes{0x72}));
    EXPECT_FALSE(decode_sense(Bytes(18, 0)));
    EXPECT_FALSE(decode_sense(Bytes{0x7f, 0, 5, 0, 0, 0, 0, 0}));  // vendor specific
    EXPECT_FALSE(decode_sense(Bytes{0x74, 5, 0x24, 0, 0, 0, 0, 0}));
}

// ---- round trips through the target's encoders (scsi/sense.hpp) ----

std::vector<Sense> every_target_sense() {
    return {Sense::invalid_opcode(),
            Sense::lba_out_of_range(),
            Sense::invalid_field_in_cdb(2),
            Sense::invalid_field_in_cdb(1, 0),
            Sense::invalid_field_in_cdb(0x1234, 7),
            Sense::invalid_field_in_parameter_list(24),
            Sense::invalid_field_in_parameter_list(8, 5),
            Sense::invalid_field_in_command_information_unit(),
            Sense::saving_parameters_not_supported(),
            Sense::medium_removal_prevented(),
            Sense::not_ready_initializing_command_required(),
            Sense::software_write_protected(),
            Sense::space_allocation_failed(),
            Sense::miscompare_during_verify(4097),
            Sense::unit_attention(0x29, 0x00),
            Sense::unit_attention(0x2a, 0x01),
            Sense::parameter_list_length_error(),
            Sense::lun_not_supported(),
            Sense::write_protected(),
            Sense::medium_not_present(),
            Sense::unrecovered_read_error(),
            Sense::write_error(),
            Sense::internal_target_failure(),
            Sense::make(SenseKey::aborted_command, 0x47, 0x05)};
}

TEST(SenseRoundTrip, FixedFormat) {
    for (const Sense& s : every_target_sense()) {
        SCOPED_TRACE(describe_sense(s));
        expect_same(decoded(s.encode_fixed()), s);
    }
}

TEST(SenseRoundTrip, DescriptorFormat) {
    for (const Sense& s : every_target_sense()) {
        SCOPED_TRACE(describe_sense(s));
        expect_same(decoded(s.encode_descriptor()), s);
    }
}

TEST(SenseRoundTrip, LargeInformationOnlyInDescriptorFormat) {
    const Sense s = Sense::miscompare_during_verify(0x123456789a);
    EXPECT_FALSE(decoded(s.encode_fixed()).information);  // 4 bytes cannot hold it: VALID clear
    EXPECT_EQ(decoded(s.encode_descriptor()).information, std::optional<std::uint64_t>(0x123456789a));
}

// ---- names ----

TEST(SenseKeyName, EveryKey) {
    EXPECT_STREQ(sense_key_name(SenseKey::no_sense), "NO SENSE");
    EXPECT_STREQ(sense_key_name(SenseKey::recovered_error), "RECOVERED ERROR");
    EXPECT_STREQ(sense_key_name(SenseKey::not_ready), "NOT READY");
    EXPECT_STREQ(sense_key_name(SenseKey::medium_error), "MEDIUM ERROR");
    EXPECT_STREQ(sense_key_name(SenseKey::hardware_error), "HARDWARE ERROR");
    EXPECT_STREQ(sense_key_name(SenseKey::illegal_request), "ILLEGAL REQUEST");
    EXPECT_STREQ(sense_key_name(SenseKey::unit_attention), "UNIT ATTENTION");
    EXPECT_STREQ(sense_key_name(SenseKey::data_protect), "DATA PROTECT");
    EXPECT_STREQ(sense_key_name(SenseKey::blank_check), "BLANK CHECK");
    EXPECT_STREQ(sense_key_name(static_cast<SenseKey>(0x9)), "VENDOR SPECIFIC");
    EXPECT_STREQ(sense_key_name(SenseKey::copy_aborted), "COPY ABORTED");
    EXPECT_STREQ(sense_key_name(SenseKey::aborted_command), "ABORTED COMMAND");
    EXPECT_STREQ(sense_key_name(SenseKey::volume_overflow), "VOLUME OVERFLOW");
    EXPECT_STREQ(sense_key_name(SenseKey::miscompare), "MISCOMPARE");
    EXPECT_STREQ(sense_key_name(static_cast<SenseKey>(0xf)), "COMPLETED");
    EXPECT_STREQ(sense_key_name(static_cast<SenseKey>(0x25)), "ILLEGAL REQUEST");  // only the low nibble counts
}

TEST(StatusName, EveryStatus) {
    EXPECT_STREQ(status_name(Status::good), "GOOD");
    EXPECT_STREQ(status_name(Status::check_condition), "CHECK CONDITION");
    EXPECT_STREQ(status_name(Status::condition_met), "CONDITION MET");
    EXPECT_STREQ(status_name(Status::busy), "BUSY");
    EXPECT_STREQ(status_name(Status::reservation_conflict), "RESERVATION CONFLICT");
    EXPECT_STREQ(status_name(Status::task_set_full), "TASK SET FULL");
    EXPECT_STREQ(status_name(Status::aca_active), "ACA ACTIVE");
    EXPECT_STREQ(status_name(Status::task_aborted), "TASK ABORTED");
    EXPECT_STREQ(status_name(static_cast<Status>(0x01)), "UNKNOWN STATUS");
}

TEST(AscDescription, PhrasesTheIssueNames) {
    EXPECT_STREQ(asc_description(0x21, 0x00), "LBA out of range");
    EXPECT_STREQ(asc_description(0x3a, 0x00), "medium not present");
    EXPECT_STREQ(asc_description(0x24, 0x00), "invalid field in CDB");
    EXPECT_STREQ(asc_description(0x25, 0x00), "logical unit not supported");
    EXPECT_STREQ(asc_description(0x20, 0x00), "invalid command operation code");
    EXPECT_STREQ(asc_description(0x1d, 0x00), "miscompare during verify operation");
    EXPECT_STREQ(asc_description(0x29, 0x00), "power on, reset, or bus device reset occurred");
    EXPECT_STREQ(asc_description(0x3f, 0x0e), "reported luns data has changed");
    EXPECT_STREQ(asc_description(0x55, 0x03), "insufficient resources");
}

TEST(AscDescription, EveryCodeTheTargetEmits) {
    for (const Sense& s : every_target_sense())
        EXPECT_NE(asc_description(s.asc, s.ascq), nullptr) << std::hex << int(s.asc) << "/" << int(s.ascq);
    // Unit attentions queued by scsi/ and target/: resets (29h/00h-03h), MODE SELECT (2Ah/01h),
    // another initiator's TMF (2Fh/00h).
    for (std::uint8_t ascq = 0; ascq <= 3; ++ascq) EXPECT_NE(asc_description(0x29, ascq), nullptr);
    EXPECT_STREQ(asc_description(0x2a, 0x01), "mode parameters changed");
    EXPECT_STREQ(asc_description(0x2f, 0x00), "commands cleared by another initiator");
}

TEST(AscDescription, CommonAnnexDFamilies) {
    const std::pair<std::uint8_t, std::pair<int, int>> families[] = {
        {0x04, {0x00, 0x0d}}, {0x3a, {0x00, 0x04}}, {0x29, {0x00, 0x07}}, {0x2a, {0x00, 0x09}},
        {0x27, {0x00, 0x07}}, {0x4b, {0x00, 0x07}}, {0x26, {0x00, 0x04}}, {0x3f, {0x00, 0x05}},
    };
    for (const auto& [asc, range] : families)
        for (int ascq = range.first; ascq <= range.second; ++ascq)
            EXPECT_NE(asc_description(asc, static_cast<std::uint8_t>(ascq)), nullptr)
                << std::hex << int(asc) << "/" << ascq;
    for (auto [asc, ascq] : {std::pair{0x1a, 0}, {0x26, 0}, {0x11, 0}, {0x0c, 0}, {0x44, 0}, {0x47, 0}, {0x3f, 0x0e}})
        EXPECT_NE(asc_description(static_cast<std::uint8_t>(asc), static_cast<std::uint8_t>(ascq)), nullptr);
}

TEST(AscDescription, UnknownCodesHaveNone) {
    EXPECT_EQ(asc_description(0x99, 0x01), nullptr);
    EXPECT_EQ(asc_description(0x21, 0x7f), nullptr);
    EXPECT_EQ(asc_description(0xff, 0xff), nullptr);
    // Every phrase there is, is one non-empty line.
    for (int asc = 0; asc < 256; ++asc)
        for (int ascq = 0; ascq < 256; ++ascq)
            if (const char* text = asc_description(static_cast<std::uint8_t>(asc), static_cast<std::uint8_t>(ascq))) {
                EXPECT_NE(std::string_view(text), "");
                EXPECT_EQ(std::string_view(text).find('\n'), std::string_view::npos);
            }
}

TEST(DescribeSense, KnownAndUnknownCodes) {
    EXPECT_EQ(describe_sense(Sense::lba_out_of_range()), "LBA out of range (ILLEGAL REQUEST, ASC/ASCQ 21h/00h)");
    EXPECT_EQ(describe_sense(Sense::medium_not_present()), "medium not present (NOT READY, ASC/ASCQ 3Ah/00h)");
    EXPECT_EQ(describe_sense(Sense::make(SenseKey::illegal_request, 0x99, 0x01)), "ILLEGAL REQUEST, ASC/ASCQ 99h/01h");
}

TEST(DescribeStatus, StatusesAndCheckCondition) {
    EXPECT_EQ(describe_status(Status::reservation_conflict, std::nullopt), "RESERVATION CONFLICT");
    EXPECT_EQ(describe_status(Status::good, std::nullopt), "GOOD");
    EXPECT_EQ(describe_status(Status::task_set_full, std::nullopt), "TASK SET FULL");
    EXPECT_EQ(describe_status(Status::busy, Sense::lba_out_of_range()), "BUSY");  // sense only counts with 02h
    EXPECT_EQ(describe_status(Status::check_condition, std::nullopt), "CHECK CONDITION (no sense data)");
    EXPECT_EQ(describe_status(Status::check_condition, Sense::unit_attention(0x29, 0x00)),
              "power on, reset, or bus device reset occurred (UNIT ATTENTION, ASC/ASCQ 29h/00h)");
}

}  // namespace
}  // namespace iscsikit::scsi
