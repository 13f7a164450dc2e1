// GET LBA STATUS (SBC-3, SERVICE ACTION IN(16) 12h): the provisioning status of the blocks from
// the starting LBA on, as extents. A fully provisioned LU is mapped to its end; a thin one asks its store, which
// answers from file-system metadata (lseek SEEK_DATA/SEEK_HOLE) on the calling thread.
#include <algorithm>
#include <vector>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

constexpr std::size_t kHeaderBytes = 8;
constexpr std::size_t kDescriptorBytes = 16;
constexpr std::uint64_t kMaxExtentBlocks = 0xffffffffu;  // NUMBER OF LOGICAL BLOCKS is 32 bits

// SBC-3 GET LBA STATUS parameter data: PROVISIONING STATUS.
constexpr std::uint8_t kMapped = 0x0;
constexpr std::uint8_t kDeallocated = 0x1;

}  // namespace

Flow get_lba_status(LuState& lu, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    const std::uint64_t start = load_be64(&c[2]);
    const std::uint32_t allocation = load_be32(&c[10]);
    const std::uint64_t capacity = lu.block_count();  // in blocks
    // SBC-3 GET LBA STATUS: a STARTING LOGICAL BLOCK ADDRESS beyond the last LBA.
    if (start >= capacity) return fail(cmd, Sense::lba_out_of_range());

    // As many descriptors as the allocation length has room for (at least one, for the
    // PARAMETER DATA LENGTH to be right when the allocation length cuts it short).
    const std::size_t room = allocation > kHeaderBytes ? (allocation - kHeaderBytes) / kDescriptorBytes : 0;
    const std::size_t wanted = std::clamp<std::size_t>(room, 1, kMaxLbaStatusDescriptors);

    std::vector<std::uint8_t> d(kHeaderBytes, 0);
    std::uint64_t lba = start;
    while (lba < capacity && (d.size() - kHeaderBytes) / kDescriptorBytes < wanted) {
        std::uint64_t blocks = std::min(capacity - lba, kMaxExtentBlocks);
        std::uint8_t status = kMapped;
        if (lu.identity.thin) {
            auto extent = lu.store.provisioning(lba * lu.block_size, blocks * lu.block_size);
            if (!extent) return fail(cmd, storage_error(lu, extent.error(), false));
            blocks = extent->length / lu.block_size;
            if (blocks == 0) return fail(cmd, Sense::internal_target_failure());  // a store bug: never loop
            status = extent->mapped ? kMapped : kDeallocated;
        }
        // SBC-3 GET LBA STATUS parameter data: LBA status descriptor.
        std::uint8_t desc[kDescriptorBytes] = {};
        store_be64(desc, lba);
        store_be32(desc + 8, static_cast<std::uint32_t>(blocks));
        desc[12] = status;
        append(d, desc, sizeof desc);
        lba += blocks;
    }
    store_be32(d.data(), static_cast<std::uint32_t>(d.size() - 4));  // PARAMETER DATA LENGTH
    return data_in(cmd, d.data(), d.size(), allocation);
}

}  // namespace iscsikit::scsi::detail
