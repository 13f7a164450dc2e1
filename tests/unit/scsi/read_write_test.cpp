#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

TEST(ReadWrite, RoundTripThroughEveryCdbSize) {
    Harness h;
    const Bytes data = pattern(4 * 512, 3);
    expect_good(h.run(write10(10, 4), data));
    const Command r10 = h.run(read10(10, 4));
    expect_good(r10);
    EXPECT_EQ(bytes_of(r10), data);

    const Command r16 = h.run(cdb16(0x88, 10, 4));
    EXPECT_EQ(bytes_of(r16), data);
    const Command r12 = h.run({0xa8, 0, 0, 0, 0, 10, 0, 0, 0, 4, 0, 0});
    EXPECT_EQ(bytes_of(r12), data);
    const Command r6 = h.run({0x08, 0, 0, 10, 4, 0});
    EXPECT_EQ(bytes_of(r6), data);

    const Bytes other = pattern(512, 9);
    expect_good(h.run({0x0a, 0, 0, 11, 1, 0}, other));                    // WRITE(6)
    expect_good(h.run(cdb16(0x8a, 12, 1), other));                        // WRITE(16)
    expect_good(h.run({0xaa, 0, 0, 0, 0, 13, 0, 0, 0, 1, 0, 0}, other));  // WRITE(12)
    const Bytes back = bytes_of(h.run(read10(10, 4)));
    EXPECT_TRUE(std::equal(back.begin(), back.begin() + 512, data.begin()));
    for (int b = 1; b < 4; ++b) EXPECT_TRUE(std::equal(other.begin(), other.end(), back.begin() + b * 512));
}

TEST(ReadWrite, Read6LengthZeroMeans256Blocks) {
    Harness h;
    const Command c = h.run({0x08, 0, 0, 0, 0, 0});
    expect_good(c);
    EXPECT_EQ(c.data_in_length, 256u * 512);
}

TEST(ReadWrite, ZeroBlocksIsGoodWithoutData) {
    Harness h;
    for (const Bytes& cdb : {read10(0, 0), write10(0, 0), cdb16(0x88, 1024, 0), cdb16(0x8a, 1024, 0)}) {
        const Command c = h.run(cdb);
        expect_good(c);
        EXPECT_EQ(c.data_in_length, 0u);
    }
    EXPECT_TRUE(h.store().writes.empty());
}

TEST(ReadWrite, BeyondCapacityIsLbaOutOfRange) {
    Harness h;  // 1024 blocks
    for (const Bytes& cdb : {read10(1024, 1), read10(1023, 2), read10(1025, 0), read10(0xffffffff, 1),
                             cdb16(0x88, 0x8000000000000000ull, 1), cdb16(0x88, ~0ull, 2), cdb16(0x88, ~0ull, 0),
                             Bytes{0x08, 0x1f, 0xff, 0xff, 1, 0}}) {
        expect_sense(h.run(cdb), SenseKey::illegal_request, 0x21, 0x00);
    }
    expect_sense(h.run(write10(1023, 2), pattern(1024, 0)), SenseKey::illegal_request, 0x21, 0x00);
    expect_good(h.run(read10(1023, 1)));
    expect_good(h.run(read10(1024, 0)));
}

TEST(ReadWrite, ProtectionFieldsAreInvalid) {
    Harness h;
    for (std::uint8_t p = 1; p < 8; ++p) {
        const Command r = h.run(read10(0, 1, std::uint8_t(p << 5)));
        expect_invalid_cdb_field(r, 1);
        EXPECT_EQ(r.sense.bit_pointer, 7);
        expect_invalid_cdb_field(h.run(write10(0, 1, std::uint8_t(p << 5)), pattern(512, 0)), 1);
    }
}

TEST(ReadWrite, DpoFuaAndObsoleteFuaNvAreAccepted) {
    Harness h;
    for (std::uint8_t flags : {0x10, 0x08, 0x18, 0x02, 0x1a}) {
        expect_good(h.run(read10(0, 1, flags)));
        expect_good(h.run(write10(0, 1, flags), pattern(512, flags)));
        EXPECT_EQ(h.store().writes.back().fua, (flags & 0x08) != 0);
    }
}

TEST(ReadWrite, TransferLongerThanBlockLimitsIsInvalidField) {
    Harness h(ram(1u << 16));
    const Command c = h.run(cdb16(0x88, 0, 16385));  // 8 MiB + 512
    expect_invalid_cdb_field(c, 10);
    expect_good(h.run(cdb16(0x88, 0, 16384)));
    EXPECT_EQ(h.lu->data_out_length(std::array<std::uint8_t, 16>{0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x01}),
              0u);
}

TEST(ReadWrite, ShortDataOutWritesOnlyWholeBlocksThatArrived) {
    Harness h;
    expect_good(h.run(write10(0, 2), Bytes(1024, 'a')));
    // Two blocks in the CDB, one block of data: block 0 changes, block 1 keeps 'a'.
    expect_good(h.run(write10(0, 2), Bytes(512, 'b')));
    Bytes expected(512, 'b');
    expected.resize(1024, 'a');
    EXPECT_EQ(bytes_of(h.run(read10(0, 2))), expected);
    // No data at all: nothing is written, GOOD (the transport reports the residual).
    expect_good(h.run(write10(0, 1)));
    // A partial block cannot be written.
    expect_sense(h.run(write10(0, 1), Bytes(200, 'c')), SenseKey::illegal_request, 0x0e, 0x03);
    EXPECT_EQ(bytes_of(h.run(read10(0, 2))), expected);
}

TEST(ReadWrite, LongerDataOutUsesOnlyTheTransferLength) {
    Harness h;
    expect_good(h.run(write10(0, 2), Bytes(1024, 'a')));
    expect_good(h.run(write10(0, 1), Bytes(1024, 'b')));
    Bytes expected(512, 'b');
    expected.resize(1024, 'a');
    EXPECT_EQ(bytes_of(h.run(read10(0, 2))), expected);
}

TEST(ReadWrite, ReadOnlyStoreIsWriteProtected) {
    Harness h(ram(1024, 512, true));
    expect_sense(h.run(write10(0, 1), pattern(512, 0)), SenseKey::data_protect, 0x27, 0x00);
    expect_sense(h.run(cdb16(0x8e, 0, 1, 0x02), pattern(512, 0)), SenseKey::data_protect, 0x27, 0x00);
    // Range and field checks come first; zero blocks is not a write.
    expect_sense(h.run(write10(1024, 1), pattern(512, 0)), SenseKey::illegal_request, 0x21, 0x00);
    expect_invalid_cdb_field(h.run(write10(0, 1, 0x20), pattern(512, 0)), 1);
    expect_good(h.run(write10(0, 0)));
}

TEST(ReadWrite, WriteAndVerifyWritesThroughToTheMedium) {
    Harness h;
    const Bytes data = pattern(1024, 5);
    expect_good(h.run({0x2e, 0x02, 0, 0, 0, 8, 0, 0, 2, 0}, data));
    EXPECT_TRUE(h.store().writes.back().fua);
    expect_good(h.run({0xae, 0x00, 0, 0, 0, 10, 0, 0, 0, 2, 0, 0}, data));
    EXPECT_EQ(bytes_of(h.run(read10(8, 4))), [&] {
        Bytes b = data;
        b.insert(b.end(), data.begin(), data.end());
        return b;
    }());
    expect_invalid_cdb_field(h.run({0x2e, 0x04, 0, 0, 0, 8, 0, 0, 1, 0}, pattern(512, 0)), 1);
    expect_invalid_cdb_field(h.run({0x2e, 0x40, 0, 0, 0, 8, 0, 0, 1, 0}, pattern(512, 0)), 1);
}

TEST(ReadWrite, DataOutLengthFollowsTheCdb) {
    Harness h;
    auto cdb = [](Bytes b) {
        std::array<std::uint8_t, 16> a{};
        std::copy(b.begin(), b.end(), a.begin());
        return a;
    };
    EXPECT_EQ(h.lu->data_out_length(cdb(write10(0, 3))), 1536u);
    EXPECT_EQ(h.lu->data_out_length(cdb({0x0a, 0, 0, 0, 0, 0})), 256u * 512);
    EXPECT_EQ(h.lu->data_out_length(cdb(read10(0, 3))), 0u);
    EXPECT_EQ(h.lu->data_out_length(cdb({0x2f, 0x02, 0, 0, 0, 0, 0, 0, 4, 0})), 2048u);  // VERIFY BYTCHK 01b
    EXPECT_EQ(h.lu->data_out_length(cdb({0x2f, 0x06, 0, 0, 0, 0, 0, 0, 4, 0})), 512u);   // BYTCHK 11b
    EXPECT_EQ(h.lu->data_out_length(cdb({0x2f, 0x00, 0, 0, 0, 0, 0, 0, 4, 0})), 0u);
    EXPECT_EQ(h.lu->data_out_length(cdb({0x41, 0, 0, 0, 0, 0, 0, 0, 9, 0})), 512u);
    EXPECT_EQ(h.lu->data_out_length(cdb(cdb16(0x93, 0, 9, 0x01))), 0u);  // NDOB
    EXPECT_EQ(h.lu->data_out_length(cdb({0x15, 0x10, 0, 0, 24, 0})), 24u);
    EXPECT_EQ(h.lu->data_out_length(cdb({0x55, 0x10, 0, 0, 0, 0, 0, 0x01, 0x02, 0})), 258u);
    EXPECT_EQ(h.lu->data_out_length(cdb({0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0})), 24u);            // PERSISTENT RESERVE OUT
    EXPECT_EQ(h.lu->data_out_length(cdb({0x5f, 5, 0, 0, 0, 0, 0, 0, 24, 0})), 24u);            // PREEMPT AND ABORT
    EXPECT_EQ(h.lu->data_out_length(cdb({0x5f, 7, 0, 0, 0, 0, 0, 0, 40, 0})), 40u);            // REGISTER AND MOVE
    EXPECT_FALSE(h.lu->data_out_length(cdb({0x5f, 8, 0, 0, 0, 0, 0, 0, 24, 0})).has_value());  // reserved
    EXPECT_FALSE(h.lu->data_out_length(cdb({0x8c, 0, 0, 0, 0, 0, 0, 0, 0, 0})).has_value());   // READ ATTRIBUTE
    Bytes compare(16, 0);
    compare[0] = 0x89;
    compare[13] = 3;
    EXPECT_EQ(h.lu->data_out_length(cdb(compare)), 3072u);  // COMPARE AND WRITE: verify and write instances
    Bytes atomic(16, 0);
    atomic[0] = 0x9c;
    atomic[13] = 3;
    EXPECT_EQ(h.lu->data_out_length(cdb(atomic)), 1536u);  // WRITE ATOMIC(16): TRANSFER LENGTH in bytes 12-13
    EXPECT_EQ(h.lu->data_out_length(cdb(cdb16(0x8b, 0, 3))), 1536u);  // ORWRITE(16)
}

TEST(ReadWrite, UnsupportedOpcodesAreRejected) {
    Harness h;
    // PERSISTENT RESERVE OUT's missing service actions are tested in persistent_reserve_test.cpp;
    // READ ATTRIBUTE, UNMAP (on a fully provisioned LU)
    for (std::uint8_t op : {0x8c, 0x42})
        expect_sense(h.run({op, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), SenseKey::illegal_request, 0x20, 0x00);
    // An unknown service action of SERVICE ACTION IN(16): invalid field, pointer byte 1.
    const Command c = h.run(cdb16(0x9e, 0, 0, 0x13));
    expect_invalid_cdb_field(c, 1);
}

TEST(ReadWrite, NacaIsRefused) {
    Harness h;
    Bytes cdb = read10(0, 1);
    cdb[9] = 0x04;
    expect_invalid_cdb_field(h.run(cdb), 9);
}

}  // namespace
}  // namespace iscsikit::scsi::test
