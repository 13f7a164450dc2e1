#include <array>
#include <system_error>

#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

// The LU's NAA designator as identity() makes VPD 83h report it: code set binary, association
// logical unit, type NAA, 8 bytes.
Bytes naa_designation(std::uint64_t naa = 0x6001405123456789ull) {
    Bytes d{0x01, 0x03, 0x00, 0x08};
    for (int i = 0; i < 8; ++i) d.push_back(std::uint8_t(naa >> (56 - 8 * i)));
    return d;
}

// An Identification descriptor CSCD descriptor (E4h) for a block device.
Bytes cscd(const Bytes& designation = naa_designation(), std::uint32_t block_length = 512, std::uint8_t type = 0xe4) {
    Bytes d(32, 0);
    d[0] = type;
    std::copy(designation.begin(), designation.end(), d.begin() + 4);
    d[29] = std::uint8_t(block_length >> 16);
    d[30] = std::uint8_t(block_length >> 8);
    d[31] = std::uint8_t(block_length);
    return d;
}

// A block device to block device segment descriptor (02h).
Bytes segment(std::uint16_t source, std::uint16_t destination, std::uint16_t blocks, std::uint64_t source_lba,
              std::uint64_t destination_lba) {
    Bytes d(28, 0);
    d[0] = 0x02;
    d[3] = 0x18;
    d[4] = std::uint8_t(source >> 8);
    d[5] = std::uint8_t(source);
    d[6] = std::uint8_t(destination >> 8);
    d[7] = std::uint8_t(destination);
    d[10] = std::uint8_t(blocks >> 8);
    d[11] = std::uint8_t(blocks);
    for (int i = 0; i < 8; ++i) {
        d[12 + i] = std::uint8_t(source_lba >> (56 - 8 * i));
        d[20 + i] = std::uint8_t(destination_lba >> (56 - 8 * i));
    }
    return d;
}

constexpr std::uint8_t kHold = 0x0;    // LIST ID USAGE 00b
constexpr std::uint8_t kNoList = 0x3;  // LIST ID USAGE 11b

Bytes parameter_list(const std::vector<Bytes>& cscds, const std::vector<Bytes>& segments, std::uint8_t list_id = 0,
                     std::uint8_t usage = kNoList) {
    Bytes p(16, 0);
    p[0] = list_id;
    p[1] = std::uint8_t(usage << 3);
    std::size_t cscd_bytes = 0;
    std::size_t segment_bytes = 0;
    for (const Bytes& d : cscds) cscd_bytes += d.size();
    for (const Bytes& d : segments) segment_bytes += d.size();
    p[2] = std::uint8_t(cscd_bytes >> 8);
    p[3] = std::uint8_t(cscd_bytes);
    for (int i = 0; i < 4; ++i) p[8 + i] = std::uint8_t(segment_bytes >> (24 - 8 * i));
    for (const Bytes& d : cscds) p.insert(p.end(), d.begin(), d.end());
    for (const Bytes& d : segments) p.insert(p.end(), d.begin(), d.end());
    return p;
}

Bytes extended_copy(std::size_t length) {
    Bytes c(16, 0);
    c[0] = 0x83;
    for (int i = 0; i < 4; ++i) c[10 + i] = std::uint8_t(length >> (24 - 8 * i));
    return c;
}

Command run_copy(Harness& h, const Bytes& list, std::uint64_t nexus = 1) {
    return h.run(extended_copy(list.size()), list, nexus);
}

Bytes receive_copy_results(std::uint8_t service_action, std::uint8_t list_id, std::uint32_t allocation = 1024) {
    Bytes c(16, 0);
    c[0] = 0x84;
    c[1] = service_action;
    c[2] = list_id;
    for (int i = 0; i < 4; ++i) c[10 + i] = std::uint8_t(allocation >> (24 - 8 * i));
    return c;
}

std::uint32_t be32(const Bytes& b, std::size_t at) {
    return std::uint32_t(b[at]) << 24 | std::uint32_t(b[at + 1]) << 16 | std::uint32_t(b[at + 2]) << 8 | b[at + 3];
}
std::uint16_t be16(const Bytes& b, std::size_t at) { return std::uint16_t(b[at] << 8 | b[at + 1]); }

void expect_copy_aborted(const Command& c, std::uint8_t asc, std::uint8_t ascq) {
    expect_sense(c, SenseKey::copy_aborted, asc, ascq);
}

TEST(ExtendedCopy, CopiesBlocksWithinTheLu) {
    Harness h(ram(8192));
    const Bytes data = pattern(3000 * 512, 4);
    expect_good(h.run(cdb16(0x8a, 0, 3000), data));
    const std::size_t writes_before = h.store().writes.size();
    expect_good(run_copy(h, parameter_list({cscd()}, {segment(0, 0, 3000, 0, 5000)})));
    // 1.5 MiB: two reads and two writes of at most 1 MiB.
    EXPECT_EQ(h.store().writes.size() - writes_before, 2u);
    EXPECT_EQ(bytes_of(h.run(cdb16(0x88, 5000, 3000))), data);
}

TEST(ExtendedCopy, SegmentsRunInOrderBetweenTwoDescriptorsOfTheLu) {
    Harness h;
    const Bytes a = pattern(512 * 4, 1);
    expect_good(h.run(write10(0, 4), a));
    // Source descriptor 1, destination descriptor 0, both this LU; the second segment copies
    // what the first one wrote.
    expect_good(run_copy(h, parameter_list({cscd(), cscd()}, {segment(1, 0, 4, 0, 100), segment(0, 1, 4, 100, 200)})));
    EXPECT_EQ(bytes_of(h.run(read10(100, 4))), a);
    EXPECT_EQ(bytes_of(h.run(read10(200, 4))), a);
}

TEST(ExtendedCopy, OverlappingCopyReadsEveryBlockBeforeOverwritingIt) {
    Harness h(ram(8192));
    const Bytes data = pattern(3000 * 512, 9);
    expect_good(h.run(cdb16(0x8a, 0, 3000), data));
    // The destination starts inside the source: chunks go from the end backwards.
    expect_good(run_copy(h, parameter_list({cscd()}, {segment(0, 0, 3000, 0, 1000)})));
    EXPECT_EQ(bytes_of(h.run(cdb16(0x88, 1000, 3000))), data);
}

TEST(ExtendedCopy, ZeroParameterListLengthDoesNothing) {
    Harness h;
    expect_good(h.run(extended_copy(0)));
    EXPECT_TRUE(h.store().writes.empty());
}

TEST(ExtendedCopy, TruncatedParameterListIsALengthError) {
    Harness h;
    const Bytes list = parameter_list({cscd()}, {segment(0, 0, 8, 0, 100)});
    // Shorter than the header, than the CSCD descriptor list, than the segment descriptor list.
    for (std::size_t length : {std::size_t{8}, std::size_t{16 + 31}, list.size() - 1}) {
        const Bytes cut(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(length));
        expect_sense(run_copy(h, cut), SenseKey::illegal_request, 0x1a, 0x00);
    }
    EXPECT_TRUE(h.store().writes.empty());
}

TEST(ExtendedCopy, DescriptorListsBeyondTheMaximumLengthAreALengthError) {
    Harness h;
    // MAXIMUM DESCRIPTOR LIST LENGTH is 1024: 32 + 36 * 28 = 1040.
    std::vector<Bytes> segments(36, segment(0, 0, 1, 0, 1));
    expect_sense(run_copy(h, parameter_list({cscd()}, segments)), SenseKey::illegal_request, 0x1a, 0x00);
}

TEST(ExtendedCopy, TooManyDescriptorsAreRefused) {
    Harness h;
    expect_sense(run_copy(h, parameter_list({cscd(), cscd(), cscd()}, {segment(0, 0, 1, 0, 1)})),
                 SenseKey::illegal_request, 0x26, 0x06);
    std::vector<Bytes> segments(17, segment(0, 0, 1, 0, 1));
    expect_sense(run_copy(h, parameter_list({cscd()}, segments)), SenseKey::illegal_request, 0x26, 0x08);
    EXPECT_TRUE(h.store().writes.empty());
}

TEST(ExtendedCopy, UnsupportedDescriptorTypesAreRefused) {
    Harness h;
    // Fibre Channel N_Port_Name CSCD descriptor (E0h).
    expect_sense(run_copy(h, parameter_list({cscd(naa_designation(), 512, 0xe0)}, {segment(0, 0, 1, 0, 1)})),
                 SenseKey::illegal_request, 0x26, 0x07);
    // Stream device to stream device segment descriptor (03h).
    Bytes stream(20, 0);
    stream[0] = 0x03;
    stream[3] = 0x10;
    expect_sense(run_copy(h, parameter_list({cscd()}, {stream})), SenseKey::illegal_request, 0x26, 0x09);
}

TEST(ExtendedCopy, MalformedDescriptorFieldsAreInvalidParameterListFields) {
    Harness h;
    // A CSCD descriptor with another block length than the LU's.
    expect_invalid_parameter_list_field(run_copy(h, parameter_list({cscd(naa_designation(), 4096)}, {})), 16 + 29);
    // A CSCD descriptor for a peripheral device type other than a block device.
    Bytes tape = cscd();
    tape[1] = 0x01;
    expect_invalid_parameter_list_field(run_copy(h, parameter_list({tape}, {})), 17);
    // A block to block segment descriptor whose DESCRIPTOR LENGTH is not 0018h.
    Bytes wrong = segment(0, 0, 1, 0, 1);
    wrong[3] = 0x14;
    expect_invalid_parameter_list_field(run_copy(h, parameter_list({cscd()}, {wrong})), 48 + 2);
    // LIST ID USAGE 01b is reserved; inline data is not taken.
    expect_invalid_parameter_list_field(run_copy(h, parameter_list({cscd()}, {}, 1, 0x1)), 1);
    Bytes with_inline = parameter_list({cscd()}, {});
    with_inline[15] = 4;
    with_inline.resize(with_inline.size() + 4);
    expect_invalid_parameter_list_field(run_copy(h, with_inline), 12);
}

TEST(ExtendedCopy, LuIdTypeAndNulAreIgnored) {
    Harness h;
    Bytes d = cscd();
    d[1] = 0xa0;  // LU ID TYPE 10b, NUL 1: not used by an E4h descriptor in SPC-4
    expect_good(run_copy(h, parameter_list({d}, {segment(0, 0, 1, 0, 1)})));
}

TEST(ExtendedCopy, CscdIndexOutsideTheListAbortsTheCopy) {
    Harness h;
    const Command c = run_copy(h, parameter_list({cscd()}, {segment(0, 1, 8, 0, 100)}));
    expect_copy_aborted(c, 0x08, 0x04);  // UNREACHABLE COPY TARGET
    ASSERT_TRUE(c.sense.field_pointer.has_value());
    EXPECT_EQ(*c.sense.field_pointer, 48 + 6);  // the DESTINATION CSCD DESCRIPTOR ID
    EXPECT_FALSE(c.sense.field_in_cdb);
    EXPECT_TRUE(h.store().writes.empty());
}

TEST(ExtendedCopy, AnotherLuIsNotReachable) {
    Harness h;
    const Command c =
        run_copy(h, parameter_list({cscd(naa_designation(0x6001405000000001ull))}, {segment(0, 0, 8, 0, 100)}));
    expect_copy_aborted(c, 0x0d, 0x02);  // COPY TARGET DEVICE NOT REACHABLE
    EXPECT_TRUE(h.store().writes.empty());
}

TEST(ExtendedCopy, RangeBeyondTheCapacityAbortsTheCopyBeforeAnyWrite) {
    Harness h;  // 1024 blocks
    Command c = run_copy(h, parameter_list({cscd()}, {segment(0, 0, 8, 0, 100), segment(0, 0, 8, 0, 1020)}));
    expect_copy_aborted(c, 0x00, 0x00);
    ASSERT_TRUE(c.sense.field_pointer.has_value());
    EXPECT_EQ(*c.sense.field_pointer, 48 + 28 + 20);  // the second segment's DESTINATION LBA
    c = run_copy(h, parameter_list({cscd()}, {segment(0, 0, 8, 1023, 0)}));
    expect_copy_aborted(c, 0x00, 0x00);
    EXPECT_EQ(*c.sense.field_pointer, 48 + 12);
    EXPECT_TRUE(h.store().writes.empty());
}

TEST(ExtendedCopy, WriteProtectedLuRefusesTheCopy) {
    Harness h(ram(1024, 512, true));
    expect_sense(run_copy(h, parameter_list({cscd()}, {segment(0, 0, 8, 0, 100)})), SenseKey::data_protect, 0x27, 0x00);
}

TEST(ExtendedCopy, StoreFailureDuringTheCopyAbortsIt) {
    Harness h;
    h.store().write_error = std::make_error_code(std::errc::io_error);
    const Command c = run_copy(h, parameter_list({cscd()}, {segment(0, 0, 8, 0, 100)}, 7, kHold));
    expect_copy_aborted(c, 0x0c, 0x00);  // the store's WRITE ERROR
    // COPY MANAGER STATUS 02h: completed with an error, no segment processed.
    const Bytes status = bytes_of(h.run(receive_copy_results(0x00, 7)));
    ASSERT_EQ(status.size(), 12u);
    EXPECT_EQ(status[4], 0x02);
    EXPECT_EQ(be16(status, 5), 0);
}

TEST(ExtendedCopy, ListIdOfARunningCopyIsInUse) {
    Harness h;
    const Bytes list = parameter_list({cscd()}, {segment(0, 0, 8, 0, 100)}, 3, kHold);
    Command first;
    const Bytes cdb = extended_copy(list.size());
    std::copy(cdb.begin(), cdb.end(), first.cdb.begin());
    first.nexus = 1;
    for (auto b : list) first.buffer.push_back(std::byte{b});
    first.expected_transfer_length = static_cast<std::uint32_t>(list.size());
    int calls = 0;
    h.lu->execute(first, h.io, [&] { ++calls; });
    EXPECT_EQ(calls, 0);  // waits for the store
    // While it runs, its status says so and its identifier is taken.
    EXPECT_EQ(bytes_of(h.run_now(receive_copy_results(0x00, 3)))[4], 0x00);
    expect_sense(h.run_now(extended_copy(list.size()), list), SenseKey::illegal_request, 0x00, 0x16);
    h.store().drain();
    EXPECT_EQ(calls, 1);
    expect_good(first);
    expect_good(run_copy(h, list));  // ended: the identifier is free again
}

TEST(ExtendedCopy, CopiesBeyondTotalConcurrentCopiesAreRefused) {
    Harness h;
    const Bytes list = parameter_list({cscd()}, {segment(0, 0, 8, 0, 100)});
    const Bytes cdb = extended_copy(list.size());
    // TOTAL CONCURRENT COPIES (8) copies wait for the store ...
    std::array<Command, 8> running;
    int calls = 0;
    for (Command& c : running) {
        std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
        c.nexus = 1;
        for (auto b : list) c.buffer.push_back(std::byte{b});
        c.expected_transfer_length = static_cast<std::uint32_t>(list.size());
        h.lu->execute(c, h.io, [&] { ++calls; });
    }
    EXPECT_EQ(calls, 0);
    // ... and one more is turned away until one of them ends.
    expect_sense(h.run_now(cdb, list), SenseKey::illegal_request, 0x55, 0x03);
    h.store().drain();
    EXPECT_EQ(calls, 8);
    for (const Command& c : running) expect_good(c);
    expect_good(run_copy(h, list));
}

TEST(ReceiveCopyResults, CopyStatusOfAnUnknownListIdIsAnInvalidField) {
    Harness h;
    expect_invalid_cdb_field(h.run(receive_copy_results(0x00, 1)), 2);
}

TEST(ReceiveCopyResults, CopyStatusReportsAnEndedCopyOnce) {
    Harness h;
    expect_good(run_copy(h, parameter_list({cscd()}, {segment(0, 0, 8, 0, 100), segment(0, 0, 2, 0, 200)}, 5, kHold)));
    h.clear_power_on(2);
    expect_invalid_cdb_field(h.run(receive_copy_results(0x00, 5), {}, 2), 2);  // another nexus's
    const Bytes status = bytes_of(h.run(receive_copy_results(0x00, 5)));
    // AVAILABLE DATA 8, COPY MANAGER STATUS 01h, two segments, 5120 bytes.
    EXPECT_EQ(status, (Bytes{0, 0, 0, 8, 0x01, 0, 2, 0x00, 0, 0, 0x14, 0x00}));
    expect_invalid_cdb_field(h.run(receive_copy_results(0x00, 5)), 2);  // discarded once returned
}

TEST(ReceiveCopyResults, NoListIdentifierKeepsNoStatus) {
    Harness h;
    expect_good(run_copy(h, parameter_list({cscd()}, {segment(0, 0, 8, 0, 100)}, 0, kNoList)));
    expect_invalid_cdb_field(h.run(receive_copy_results(0x00, 0)), 2);
}

TEST(ReceiveCopyResults, ResetDiscardsCopyStatus) {
    Harness h;
    expect_good(run_copy(h, parameter_list({cscd()}, {segment(0, 0, 8, 0, 100)}, 9, kHold)));
    h.lu->reset(0x03);
    h.clear_power_on(1);
    expect_invalid_cdb_field(h.run(receive_copy_results(0x00, 9)), 2);
}

TEST(ReceiveCopyResults, OperatingParametersAgreeWithTheVpdPage) {
    Harness h;
    const Bytes op = bytes_of(h.run(receive_copy_results(0x03, 0)));
    ASSERT_EQ(op.size(), 46u);
    EXPECT_EQ(be32(op, 0), 42u);         // AVAILABLE DATA
    EXPECT_EQ(op[4], 0x01);              // SNLID
    EXPECT_EQ(be16(op, 8), 2);           // MAXIMUM CSCD DESCRIPTOR COUNT
    EXPECT_EQ(be16(op, 10), 16);         // MAXIMUM SEGMENT DESCRIPTOR COUNT
    EXPECT_EQ(be32(op, 12), 1024u);      // MAXIMUM DESCRIPTOR LIST LENGTH
    EXPECT_EQ(be32(op, 16), 64u << 20);  // MAXIMUM SEGMENT LENGTH
    EXPECT_EQ(be32(op, 20), 0u);         // MAXIMUM INLINE DATA LENGTH
    EXPECT_EQ(op[37], 9);                // DATA SEGMENT GRANULARITY: 512-byte blocks
    EXPECT_EQ(op[43], 2);
    EXPECT_EQ(op[44], 0x02);
    EXPECT_EQ(op[45], 0xe4);

    const Bytes vpd = bytes_of(h.run({0x12, 0x01, 0x8f, 0x04, 0x00, 0x00}));
    ASSERT_GE(vpd.size(), 4u);
    EXPECT_EQ(vpd[1], 0x8f);
    ASSERT_EQ(be16(vpd, 2) + 4u, vpd.size());
    bool commands = false;
    bool parameters = false;
    bool descriptors = false;
    bool general = false;
    for (std::size_t at = 4; at + 4 <= vpd.size(); at += 4u + be16(vpd, at + 2)) {
        const std::uint16_t length = be16(vpd, at + 2);
        EXPECT_EQ(length % 4, 0);
        switch (be16(vpd, at)) {
            case 0x0001:  // Supported Commands: 83h/00h, 84h/00h and 03h
                commands = true;
                EXPECT_EQ(Bytes(vpd.begin() + static_cast<std::ptrdiff_t>(at + 4),
                                vpd.begin() + static_cast<std::ptrdiff_t>(at + 12)),
                          (Bytes{7, 0x83, 1, 0x00, 0x84, 2, 0x00, 0x03}));
                break;
            case 0x0004:  // Parameter Data
                parameters = true;
                EXPECT_EQ(be16(vpd, at + 8), be16(op, 8));
                EXPECT_EQ(be16(vpd, at + 10), be16(op, 10));
                EXPECT_EQ(be32(vpd, at + 12), be32(op, 12));
                EXPECT_EQ(be32(vpd, at + 16), be32(op, 20));
                break;
            case 0x0008:  // Supported Descriptors
                descriptors = true;
                EXPECT_EQ(Bytes(vpd.begin() + static_cast<std::ptrdiff_t>(at + 4),
                                vpd.begin() + static_cast<std::ptrdiff_t>(at + 7)),
                          (Bytes{2, 0x02, 0xe4}));
                break;
            case 0x8001:  // General Copy Operations
                general = true;
                EXPECT_EQ(be32(vpd, at + 4), be16(op, 34));
                EXPECT_EQ(be32(vpd, at + 8), op[36]);
                EXPECT_EQ(be32(vpd, at + 12), be32(op, 16));
                EXPECT_EQ(vpd[at + 16], op[37]);
                break;
            default: break;
        }
    }
    EXPECT_TRUE(commands && parameters && descriptors && general);
}

}  // namespace
}  // namespace iscsikit::scsi::test
