#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

Bytes write_same10(std::uint32_t lba, std::uint16_t blocks, std::uint8_t flags = 0) {
    Bytes c = read10(lba, blocks, flags);
    c[0] = 0x41;
    return c;
}

TEST(WriteSame, RepeatsTheBlock) {
    Harness h;
    const Bytes block = pattern(512, 2);
    expect_good(h.run(write_same10(10, 5), block));
    const Bytes back = bytes_of(h.run(read10(10, 5)));
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(std::equal(block.begin(), block.end(), back.begin() + i * 512));
}

TEST(WriteSame, LargeRangesGoInChunks) {
    Harness h(ram(8192));
    const Bytes block = pattern(512, 6);
    expect_good(h.run(cdb16(0x93, 100, 5000), block));  // 2.4 MiB: three chunks of at most 1 MiB
    EXPECT_EQ(h.store().writes.size(), 3u);
    const Bytes back = bytes_of(h.run(cdb16(0x88, 100, 5000)));
    for (int i = 0; i < 5000; i += 997) EXPECT_TRUE(std::equal(block.begin(), block.end(), back.begin() + i * 512));
    EXPECT_TRUE(std::equal(block.begin(), block.end(), back.end() - 512));
    EXPECT_EQ(bytes_of(h.run(read10(5100, 1))), Bytes(512, 0));
}

TEST(WriteSame, InlineStoreDoesNotRecurse) {
    // The RAM store completes inline; 64 MiB in 1 MiB chunks must loop, not recurse.
    auto lu = std::make_shared<LogicalUnit>(identity(), ram(1u << 14, 4096));
    NullIoEngine io;
    Command c;
    const Bytes cdb = cdb16(0x93, 0, 1u << 14);
    std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
    c.nexus = 3;
    int calls = 0;
    lu->execute(c, io, [&] { ++calls; });  // reports POWER ON
    c.buffer.assign(4096, std::byte{0x5a});
    lu->execute(c, io, [&] { ++calls; });
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(c.status, Status::good);
}

TEST(WriteSame, ZeroBlocksMeansThroughTheLastBlock) {
    Harness h;  // 1024 blocks
    const Bytes block = pattern(512, 9);
    expect_good(h.run(write_same10(1000, 0), block));
    const Bytes back = bytes_of(h.run(read10(999, 25)));
    EXPECT_EQ(Bytes(back.begin(), back.begin() + 512), Bytes(512, 0));
    for (int i = 1; i < 25; ++i) EXPECT_TRUE(std::equal(block.begin(), block.end(), back.begin() + i * 512));
    expect_good(h.run(write_same10(1024, 0), block));  // nothing left to write
    expect_sense(h.run(write_same10(1025, 0), block), SenseKey::illegal_request, 0x21, 0x00);
    Harness big(ram(0x10000));  // one block more than MAXIMUM WRITE SAME LENGTH (65535)
    expect_invalid_cdb_field(big.run(write_same10(0, 0), block), 7);
    expect_good(big.run(write_same10(1, 0), block));
}

TEST(WriteSame, NoDataOutBufferWritesZeros) {
    Harness h;
    expect_good(h.run(write10(7, 2), pattern(1024, 1)));
    expect_good(h.run(cdb16(0x93, 7, 2, 0x01)));
    EXPECT_EQ(bytes_of(h.run(read10(7, 2))), Bytes(1024, 0));
}

TEST(WriteSame, FieldChecks) {
    Harness h;
    const Bytes block(512, 0);
    expect_invalid_cdb_field(h.run(write_same10(0, 1, 0x08), block), 1);  // UNMAP: LBPWS10 0 when fully provisioned
    expect_invalid_cdb_field(h.run(write_same10(0, 1, 0x10), block), 1);  // ANCHOR
    expect_invalid_cdb_field(h.run(write_same10(0, 1, 0x20), block), 1);  // WRPROTECT
    expect_sense(h.run(write_same10(1024, 1), block), SenseKey::illegal_request, 0x21, 0x00);
    expect_sense(h.run(write_same10(1000, 25), block), SenseKey::illegal_request, 0x21, 0x00);
    expect_sense(h.run(write_same10(0, 1), Bytes(100, 0)), SenseKey::illegal_request, 0x0e, 0x03);
    Harness big(ram(1u << 18));
    expect_invalid_cdb_field(big.run(cdb16(0x93, 0, 0x10000), block), 10);  // beyond 65535 blocks
    Harness big4k(ram(1u << 15, 4096));
    expect_invalid_cdb_field(big4k.run(cdb16(0x93, 0, (1u << 14) + 1), Bytes(4096, 0)), 10);  // beyond 64 MiB
}

TEST(WriteSame, UnmapBitOnAThinLuDeallocatesZeros) {
    Harness h(ram(), thin_identity());
    expect_good(h.run(write10(10, 20), pattern(20 * 512, 4)));
    expect_good(h.run(write_same10(12, 5, 0x08), Bytes(512, 0)));
    ASSERT_EQ(h.store().unmaps.size(), 1u);
    EXPECT_EQ(h.store().unmaps[0].offset, 12u * 512);
    EXPECT_EQ(h.store().unmaps[0].length, 5u * 512);
    EXPECT_EQ(h.store().writes.size(), 1u);  // only the WRITE(10)
    const Bytes back = bytes_of(h.run(read10(10, 20)));
    EXPECT_EQ(Bytes(back.begin() + 2 * 512, back.begin() + 7 * 512), Bytes(5 * 512, 0));
    const Bytes written = pattern(20 * 512, 4);
    EXPECT_EQ(Bytes(back.begin(), back.begin() + 2 * 512), Bytes(written.begin(), written.begin() + 2 * 512));
    EXPECT_EQ(Bytes(back.begin() + 7 * 512, back.end()), Bytes(written.begin() + 7 * 512, written.end()));

    // WRITE SAME(16): NDOB with UNMAP, and NUMBER OF LOGICAL BLOCKS 0 (through the last block).
    expect_good(h.run(cdb16(0x93, 20, 4, 0x08 | 0x01)));
    expect_good(h.run(write_same10(1000, 0, 0x08), Bytes(512, 0)));
    ASSERT_EQ(h.store().unmaps.size(), 3u);
    EXPECT_EQ(h.store().unmaps[1].offset, 20u * 512);
    EXPECT_EQ(h.store().unmaps[2].offset, 1000u * 512);
    EXPECT_EQ(h.store().unmaps[2].length, 24u * 512);
}

TEST(WriteSame, UnmapBitDeallocatesWhateverTheBlockHolds) {
    // SBC-4: UNMAP 1, ANCHOR 0 deallocates; libiscsi's UnmapUntilEnd sends a block of 0xff.
    Harness h(ram(), thin_identity());
    expect_good(h.run(write10(3, 4), pattern(4 * 512, 1)));
    expect_good(h.run(write_same10(3, 4, 0x08), Bytes(512, 0xff)));
    ASSERT_EQ(h.store().unmaps.size(), 1u);
    EXPECT_EQ(h.store().writes.size(), 1u);
    EXPECT_EQ(bytes_of(h.run(read10(3, 4))), Bytes(4 * 512, 0));
}

TEST(WriteSame, UnmapBitChecksComeFirst) {
    Harness h(ram(), thin_identity());
    expect_invalid_cdb_field(h.run(write_same10(0, 1, 0x08 | 0x10), Bytes(512, 0)), 1);  // ANCHOR
    expect_sense(h.run(write_same10(1020, 5, 0x08), Bytes(512, 0)), SenseKey::illegal_request, 0x21, 0x00);
    Harness big(ram(1u << 18), thin_identity());
    expect_invalid_cdb_field(big.run(cdb16(0x93, 0, 0x10000, 0x08), Bytes(512, 0)), 10);
    Harness ro(ram(1024, 512, true), thin_identity());
    expect_sense(ro.run(write_same10(0, 1, 0x08), Bytes(512, 0)), SenseKey::data_protect, 0x27, 0x00);
    EXPECT_TRUE(h.store().unmaps.empty());
}

TEST(WriteSame, DataOutMustBeOneBlock) {
    Harness h(ram(), thin_identity());
    expect_sense(h.run(write_same10(0, 1, 0x08), Bytes(256, 0)), SenseKey::illegal_request, 0x0e, 0x03);
    // More than one block expected (libiscsi WriteSame10.InvalidDataOutSize): refused as well.
    expect_sense(h.run(write_same10(0, 1, 0x08), Bytes(1024, 0)), SenseKey::illegal_request, 0x0e, 0x03);
    expect_sense(h.run(write_same10(0, 1), Bytes(1024, 0)), SenseKey::illegal_request, 0x0e, 0x03);
    EXPECT_TRUE(h.store().unmaps.empty());
    EXPECT_TRUE(h.store().writes.empty());
}

TEST(WriteSame, ReadOnlyIsWriteProtectedEvenWithUnmap) {
    Harness h(ram(1024, 512, true));
    expect_sense(h.run(write_same10(0, 1), Bytes(512, 0)), SenseKey::data_protect, 0x27, 0x00);
    expect_sense(h.run(write_same10(0, 1, 0x08)), SenseKey::data_protect, 0x27, 0x00);
}

}  // namespace
}  // namespace iscsikit::scsi::test
