// COMPARE AND WRITE (SBC-3 §5.2), ORWRITE(16) (SBC-3 §5.14) and WRITE ATOMIC(16) (SBC-4 §5.48):
// writes that no other command interleaves with. The opcode table marks them kAtomic, so
// LogicalUnit::execute holds their blocks against every other command that reads or writes
// them (extent_lock.hpp) from before the handler runs until complete(); the handlers themselves
// only read, compare or merge, and write. Against a power loss a write is as atomic as the
// backing store's own writes of that size (docs/conformance.md).
#include <algorithm>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

// FUA, bit 3 of byte 1 in all three (DPO, bit 4, is a caching hint we accept; FUA_NV, bit 1, too).
bool fua(const Command& cmd) { return (cmd.cdb[1] & 0x08) != 0; }

// Reads `bytes` at block `lba` into the command's buffer right after its first `data_out` bytes
// (the buffer grows to `data_out + bytes`), then runs `next` where the store completes; a failed
// read completes the command with its sense instead.
template <typename Next>
void read_behind(LuState& lu, Command& cmd, IoEngine& io, std::uint64_t lba, std::size_t data_out, std::size_t bytes,
                 Next next) {
    cmd.buffer.resize_for_overwrite(data_out + bytes);
    lu.store.read(lba * lu.block_size, ByteSpan(cmd.buffer.data() + data_out, bytes), io,
                  [c = &cmd, l = &lu, i = &io, next](std::error_code ec) {
                      if (ec) {
                          fail(*c, storage_error(*l, ec, false));
                          return complete(*c);
                      }
                      l->health.succeeded(false);
                      next(*l, *c, *i);
                  });
}

}  // namespace

Flow compare_and_write(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    if (c[1] & 0xe0) return fail(cmd, Sense::invalid_field_in_cdb(1, 7));  // WRPROTECT: no protection information
    const std::uint64_t lba = load_be64(&c[2]);
    const std::uint32_t blocks = c[13];
    if (blocks > lu.max_compare_and_write_blocks()) return fail(cmd, Sense::invalid_field_in_cdb(13));
    // The verify instance and then the write instance, exactly: when the initiator's expected
    // length disagrees with NUMBER OF LOGICAL BLOCKS, the field is not trusted (an initiator that
    // asks for 256 blocks puts 0 in the one-byte field, and must not get GOOD for nothing).
    const std::size_t bytes = std::size_t{blocks} * lu.block_size;
    if (cmd.expected_transfer_length != 2 * bytes) return fail(cmd, Sense::invalid_field_in_cdb(13));
    if (!in_range(lu, lba, blocks)) return fail(cmd, Sense::lba_out_of_range());
    if (blocks == 0) return good(cmd);  // SBC-3 §5.2: not an error, nothing compared or written
    if (write_protected(lu, cmd)) return fail(cmd, write_protect_sense(lu, cmd));
    if (cmd.buffer.size() != 2 * bytes) return fail(cmd, Sense::invalid_field_in_command_information_unit());
    read_behind(lu, cmd, io, lba, 2 * bytes, bytes, [](LuState& l, Command& cmd, IoEngine& i) {
        const std::size_t bytes = cmd.buffer.size() / 3;
        const std::byte* verify = cmd.buffer.data();
        const std::byte* medium = verify + 2 * bytes;
        const auto [differs, unused] = std::mismatch(verify, verify + bytes, medium);
        if (differs != verify + bytes) {
            // SBC-3 §5.2: MISCOMPARE DURING VERIFY OPERATION, the INFORMATION field the offset of
            // the first byte that differs from the start of the data-out; nothing is written.
            fail(cmd, Sense::miscompare_during_verify(static_cast<std::uint64_t>(differs - verify)));
            return complete(cmd);
        }
        write_and_complete(l, cmd, i, load_be64(&cmd.cdb[2]), bytes, bytes, fua(cmd));
    });
    return Flow::pending;
}

Flow orwrite(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    if (c[1] & 0xe0) return fail(cmd, Sense::invalid_field_in_cdb(1, 7));  // ORPROTECT
    const cdb::Extent e = cdb::extent(c);
    if (auto error = check_extent(lu, e)) return fail(cmd, *error);
    if (e.blocks == 0) return good(cmd);
    if (write_protected(lu, cmd)) return fail(cmd, write_protect_sense(lu, cmd));
    // As WRITE does: the whole blocks that arrived, the residual telling the initiator the rest.
    const auto bytes = whole_blocks_received(lu, cmd, e.blocks);
    if (!bytes) return fail(cmd, Sense::invalid_field_in_command_information_unit());
    if (*bytes == 0) return good(cmd);
    cmd.buffer.resize_for_overwrite(*bytes);
    read_behind(lu, cmd, io, e.lba, *bytes, *bytes, [](LuState& l, Command& cmd, IoEngine& i) {
        const std::size_t bytes = cmd.buffer.size() / 2;
        std::byte* data = cmd.buffer.data();
        const std::byte* medium = data + bytes;
        for (std::size_t k = 0; k < bytes; ++k) data[k] |= medium[k];
        write_and_complete(l, cmd, i, load_be64(&cmd.cdb[2]), 0, bytes, fua(cmd));
    });
    return Flow::pending;
}

Flow write_atomic16(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    if (c[1] & 0xe0) return fail(cmd, Sense::invalid_field_in_cdb(1, 7));           // WRPROTECT
    if (load_be16(&c[10]) != 0) return fail(cmd, Sense::invalid_field_in_cdb(10));  // ATOMIC BOUNDARY
    const std::uint64_t lba = load_be64(&c[2]);
    const std::uint32_t blocks = load_be16(&c[12]);
    // MAXIMUM ATOMIC TRANSFER LENGTH is MAXIMUM TRANSFER LENGTH (inquiry.cpp): the checks of WRITE.
    if (auto error = check_extent(lu, cdb::Extent{lba, blocks, 12})) return fail(cmd, *error);
    if (blocks == 0) return good(cmd);
    if (write_protected(lu, cmd)) return fail(cmd, write_protect_sense(lu, cmd));
    // All of it or none: unlike WRITE, a short data-out writes nothing.
    const std::size_t bytes = std::size_t{blocks} * lu.block_size;
    if (cmd.buffer.size() != bytes) return fail(cmd, Sense::invalid_field_in_command_information_unit());
    write_and_complete(lu, cmd, io, lba, 0, bytes, fua(cmd));
    return Flow::pending;
}

}  // namespace iscsikit::scsi::detail
