// GET LBA STATUS (src/scsi/get_lba_status.cpp): golden parameter data for fully provisioned and
// thin LUs, allocation lengths, and the range check.
#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

Bytes get_lba_status(std::uint64_t lba, std::uint32_t allocation) { return cdb16(0x9e, lba, allocation, 0x12); }

Bytes descriptor(std::uint64_t lba, std::uint32_t blocks, std::uint8_t status) {
    Bytes d(16, 0);
    for (int i = 0; i < 8; ++i) d[i] = std::uint8_t(lba >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i) d[8 + i] = std::uint8_t(blocks >> (24 - 8 * i));
    d[12] = status;
    return d;
}

Bytes parameter_data(std::initializer_list<Bytes> descriptors) {
    const std::uint32_t length = 4 + 16 * static_cast<std::uint32_t>(descriptors.size());
    Bytes p{std::uint8_t(length >> 24),
            std::uint8_t(length >> 16),
            std::uint8_t(length >> 8),
            std::uint8_t(length),
            0,
            0,
            0,
            0};
    for (const Bytes& d : descriptors) p.insert(p.end(), d.begin(), d.end());
    return p;
}

using Provisioning = backstore::Backstore::Provisioning;

TEST(GetLbaStatus, FullyProvisionedLuIsMappedToTheEnd) {
    Harness h;  // 1024 blocks
    EXPECT_EQ(bytes_of(h.run(get_lba_status(0, 24))), parameter_data({descriptor(0, 1024, 0)}));
    EXPECT_EQ(bytes_of(h.run(get_lba_status(1000, 1024))), parameter_data({descriptor(1000, 24, 0)}));
    EXPECT_EQ(bytes_of(h.run(get_lba_status(1023, 24))), parameter_data({descriptor(1023, 1, 0)}));
}

TEST(GetLbaStatus, BeyondTheLastBlockIsOutOfRange) {
    Harness h;
    for (std::uint64_t lba : {std::uint64_t{1024}, std::uint64_t{1025}, std::uint64_t{1} << 63, ~std::uint64_t{0}})
        expect_sense(h.run(get_lba_status(lba, 24)), SenseKey::illegal_request, 0x21, 0x00);
}

TEST(GetLbaStatus, AllocationLengthTruncates) {
    Harness h;
    const Bytes full = parameter_data({descriptor(0, 1024, 0)});
    for (std::uint32_t n : {0u, 4u, 8u, 16u, 23u}) {
        const Command c = h.run(get_lba_status(0, n));
        expect_good(c);
        EXPECT_EQ(bytes_of(c), Bytes(full.begin(), full.begin() + n));
    }
}

TEST(GetLbaStatus, ThinLuReportsTheStoresExtents) {
    Harness h(ram(), thin_identity());
    // Blocks [0, 8) mapped, [8, 100) deallocated, [100, 1024) mapped.
    h.store().provisioning_override = [](std::uint64_t offset, std::uint64_t max_length) {
        const std::uint64_t block = offset / 512;
        const std::uint64_t end = block < 8 ? 8 : block < 100 ? 100 : 1024;
        return tl::expected<Provisioning, std::error_code>(
            Provisioning{block < 8 || block >= 100, std::min((end - block) * 512, max_length)});
    };
    EXPECT_EQ(bytes_of(h.run(get_lba_status(0, 1024))),
              parameter_data({descriptor(0, 8, 0), descriptor(8, 92, 1), descriptor(100, 924, 0)}));
    EXPECT_EQ(bytes_of(h.run(get_lba_status(9, 40))), parameter_data({descriptor(9, 91, 1), descriptor(100, 924, 0)}));
    // One descriptor when that is all the allocation length holds; PARAMETER DATA LENGTH says so.
    EXPECT_EQ(bytes_of(h.run(get_lba_status(5, 24))), parameter_data({descriptor(5, 3, 0)}));
    EXPECT_EQ(bytes_of(h.run(get_lba_status(5, 39))), parameter_data({descriptor(5, 3, 0)}));
}

TEST(GetLbaStatus, ThinRamLuIsMapped) {
    Harness h(ram(), thin_identity());
    EXPECT_EQ(bytes_of(h.run(get_lba_status(7, 24))), parameter_data({descriptor(7, 1017, 0)}));
}

TEST(GetLbaStatus, StoreErrorIsReported) {
    Harness h(ram(), thin_identity());
    h.store().provisioning_override = [](std::uint64_t, std::uint64_t) {
        return tl::expected<Provisioning, std::error_code>(tl::unexpected(std::make_error_code(std::errc::io_error)));
    };
    expect_sense(h.run(get_lba_status(0, 24)), SenseKey::medium_error, 0x11, 0x00);
}

TEST(GetLbaStatus, AtMostTheDescriptorLimit) {
    Harness h(ram(4096), thin_identity());
    // Alternating single blocks: far more extents than one command returns.
    h.store().provisioning_override = [](std::uint64_t offset, std::uint64_t) {
        return tl::expected<Provisioning, std::error_code>(Provisioning{(offset / 512) % 2 == 0, 512});
    };
    const Bytes b = bytes_of(h.run(get_lba_status(0, 65536)));
    ASSERT_EQ(b.size(), 8u + 256 * 16);
    EXPECT_EQ(Bytes(b.end() - 16, b.end()), descriptor(255, 1, 1));
}

}  // namespace
}  // namespace iscsikit::scsi::test
