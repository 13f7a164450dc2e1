// UNMAP on thin and fully provisioned LUs (src/scsi/unmap.cpp), and what a thin LU reports in
// READ CAPACITY(16).
#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

Bytes unmap_cdb(std::uint16_t list_length, std::uint8_t flags = 0) {
    return {0x42, flags, 0, 0, 0, 0, 0, std::uint8_t(list_length >> 8), std::uint8_t(list_length), 0};
}

struct Descriptor {
    std::uint64_t lba;
    std::uint32_t blocks;
};

// An UNMAP parameter list: header with consistent lengths, then one 16-byte descriptor each.
Bytes unmap_list(std::initializer_list<Descriptor> descriptors) {
    const std::size_t bd = descriptors.size() * 16;
    Bytes p{std::uint8_t((bd + 6) >> 8), std::uint8_t(bd + 6), std::uint8_t(bd >> 8), std::uint8_t(bd), 0, 0, 0, 0};
    for (const Descriptor& d : descriptors) {
        for (int i = 0; i < 8; ++i) p.push_back(std::uint8_t(d.lba >> (56 - 8 * i)));
        for (int i = 0; i < 4; ++i) p.push_back(std::uint8_t(d.blocks >> (24 - 8 * i)));
        p.insert(p.end(), 4, 0);
    }
    return p;
}

Command run_unmap(Harness& h, const Bytes& list) {
    return h.run(unmap_cdb(static_cast<std::uint16_t>(list.size())), list);
}

TEST(Unmap, DeallocatesEveryDescriptorAndReadsBackZeros) {
    Harness h(ram(), thin_identity());
    expect_good(h.run(write10(0, 64), pattern(64 * 512, 3)));
    expect_good(run_unmap(h, unmap_list({{2, 3}, {40, 8}})));
    ASSERT_EQ(h.store().unmaps.size(), 2u);
    EXPECT_EQ(h.store().unmaps[0].offset, 2u * 512);
    EXPECT_EQ(h.store().unmaps[0].length, 3u * 512);
    EXPECT_EQ(h.store().unmaps[1].offset, 40u * 512);
    EXPECT_EQ(h.store().unmaps[1].length, 8u * 512);

    const Bytes back = bytes_of(h.run(read10(0, 64)));
    const Bytes written = pattern(64 * 512, 3);
    for (std::size_t block = 0; block < 64; ++block) {
        const bool gone = (block >= 2 && block < 5) || (block >= 40 && block < 48);
        const Bytes got(back.begin() + block * 512, back.begin() + (block + 1) * 512);
        const Bytes want =
            gone ? Bytes(512, 0) : Bytes(written.begin() + block * 512, written.begin() + (block + 1) * 512);
        EXPECT_EQ(got, want) << "block " << block;
    }
}

TEST(Unmap, NothingToDoIsGood) {
    Harness h(ram(), thin_identity());
    expect_good(h.run(unmap_cdb(0)));                            // SBC-3: PARAMETER LIST LENGTH 0
    expect_good(run_unmap(h, unmap_list({})));                   // no descriptors
    expect_good(run_unmap(h, unmap_list({{5, 0}, {1024, 0}})));  // zero blocks, even at the capacity
    EXPECT_TRUE(h.store().unmaps.empty());
    expect_sense(run_unmap(h, unmap_list({{1025, 0}})), SenseKey::illegal_request, 0x21, 0x00);
}

TEST(Unmap, ShortParameterListIsALengthError) {
    Harness h(ram(), thin_identity());
    for (std::uint16_t n = 1; n < 8; ++n)
        expect_sense(h.run(unmap_cdb(n), Bytes(n, 0)), SenseKey::illegal_request, 0x1a, 0x00);
    // Descriptors announced beyond the parameter list length.
    Bytes list = unmap_list({{0, 1}, {8, 1}});
    expect_sense(h.run(unmap_cdb(24), Bytes(list.begin(), list.begin() + 24)), SenseKey::illegal_request, 0x1a, 0x00);
    // Less data-out than the parameter list length (a short expected transfer length).
    expect_sense(h.run(unmap_cdb(24), Bytes(6, 0)), SenseKey::illegal_request, 0x1a, 0x00);
    EXPECT_TRUE(h.store().unmaps.empty());
}

TEST(Unmap, TrailingPartialDescriptorIsIgnored) {
    Harness h(ram(), thin_identity());
    Bytes list = unmap_list({{0, 1}, {8, 1}});
    list[3] = 16 + 10;  // UNMAP BLOCK DESCRIPTOR DATA LENGTH: one descriptor and 10 bytes of another
    expect_good(run_unmap(h, list));
    ASSERT_EQ(h.store().unmaps.size(), 1u);
    EXPECT_EQ(h.store().unmaps[0].offset, 0u);
}

TEST(Unmap, DescriptorLimitsAreInvalidFieldsInTheParameterList) {
    Harness h(ram(1u << 21), thin_identity());  // 1 GiB of 512-byte blocks
    // 257 descriptors: one more than MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT.
    Bytes many = unmap_list({});
    for (int i = 0; i < 257; ++i) {
        const Bytes one = unmap_list({{std::uint64_t(i), 1}});
        many.insert(many.end(), one.begin() + 8, one.end());
    }
    const std::size_t bd = 257 * 16;
    many[0] = std::uint8_t((bd + 6) >> 8), many[1] = std::uint8_t(bd + 6);
    many[2] = std::uint8_t(bd >> 8), many[3] = std::uint8_t(bd);
    expect_invalid_parameter_list_field(run_unmap(h, many), 2);

    // MAXIMUM UNMAP LBA COUNT (2^20 blocks) in one descriptor, then over it across two.
    expect_good(run_unmap(h, unmap_list({{0, 1u << 20}})));
    expect_invalid_parameter_list_field(run_unmap(h, unmap_list({{0, 1u << 20}, {(1u << 20) + 8, 1}})), 8 + 16 + 8);
    EXPECT_EQ(h.store().unmaps.size(), 1u);  // the failed commands deallocated nothing
}

TEST(Unmap, OutOfRangeDescriptorFailsTheWholeCommand) {
    Harness h(ram(), thin_identity());
    expect_good(h.run(write10(0, 1), pattern(512, 1)));
    expect_sense(run_unmap(h, unmap_list({{0, 1}, {1000, 25}})), SenseKey::illegal_request, 0x21, 0x00);
    expect_sense(run_unmap(h, unmap_list({{~std::uint64_t{0}, 2}})), SenseKey::illegal_request, 0x21, 0x00);
    EXPECT_TRUE(h.store().unmaps.empty());
    EXPECT_EQ(bytes_of(h.run(read10(0, 1))), pattern(512, 1));
}

TEST(Unmap, AnchorIsNotSupported) {
    Harness h(ram(), thin_identity());
    const Bytes list = unmap_list({{0, 1}});
    const Command c = h.run(unmap_cdb(static_cast<std::uint16_t>(list.size()), 0x01), list);
    expect_invalid_cdb_field(c, 1);
    EXPECT_EQ(c.sense.bit_pointer, std::optional<std::uint8_t>(0));
}

TEST(Unmap, WriteProtectedLuIsDataProtect) {
    Harness h(ram(1024, 512, true), thin_identity());
    expect_sense(run_unmap(h, unmap_list({{0, 1}})), SenseKey::data_protect, 0x27, 0x00);
}

TEST(Unmap, FullyProvisionedLuDoesNotKnowIt) {
    Harness h;
    expect_sense(run_unmap(h, unmap_list({{0, 1}})), SenseKey::illegal_request, 0x20, 0x00);
    EXPECT_EQ(h.lu->data_out_length({0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}), std::nullopt);
    Harness thin(ram(), thin_identity());
    EXPECT_EQ(thin.lu->data_out_length({0x42, 0, 0, 0, 0, 0, 0, 0x01, 0x08, 0}), std::optional<std::uint32_t>(264));
}

TEST(Unmap, WriteCacheOffFlushesAfterDeallocating) {
    Harness h(ram(), thin_identity());
    const Bytes caching{0x08, 0x12, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // WCE 0
    Bytes select{0, 0, 0, 0};
    select.insert(select.end(), caching.begin(), caching.end());
    expect_good(h.run({0x15, 0x10, 0, 0, std::uint8_t(select.size()), 0}, select));
    const int before = h.store().flushes;
    expect_good(run_unmap(h, unmap_list({{0, 8}})));
    EXPECT_EQ(h.store().flushes, before + 1);
}

TEST(Unmap, StoreErrorIsReported) {
    struct NoUnmap final : backstore::Backstore {
        std::string describe() const override { return "no-unmap"; }
        std::uint64_t size_bytes() const override { return 1 << 20; }
        std::uint32_t block_size() const override { return 512; }
        bool read_only() const override { return false; }
        void read(std::uint64_t, ByteSpan, IoEngine&, IoCallback done) override {
            done(std::make_error_code(std::errc::io_error));
        }
        void write(std::uint64_t, ConstByteSpan, bool, IoEngine&, IoCallback done) override {
            done(std::make_error_code(std::errc::io_error));
        }
        void flush(IoEngine&, IoCallback done) override { done(std::error_code{}); }
        // unmap: the Backstore default, std::errc::operation_not_supported
    };
    Harness h(std::make_unique<NoUnmap>(), thin_identity());
    expect_sense(run_unmap(h, unmap_list({{0, 1}})), SenseKey::medium_error, 0x0c, 0x00);
}

TEST(ReadCapacity16, ThinLuHasLbpmeAndLbprzAndOneBlockPerPhysicalBlock) {
    Harness h(ram(), thin_identity());
    Bytes sixteen(32, 0);
    sixteen[6] = 0x03, sixteen[7] = 0xff, sixteen[10] = 0x02;
    sixteen[14] = 0xc0;  // LBPME, LBPRZ; LBPPBE (byte 13) 0
    EXPECT_EQ(bytes_of(h.run(cdb16(0x9e, 0, 32, 0x10))), sixteen);
}

}  // namespace
}  // namespace iscsikit::scsi::test
