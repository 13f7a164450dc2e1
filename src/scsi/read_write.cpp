// READ(6/10/12/16), WRITE(6/10/12/16) and WRITE AND VERIFY(10/12/16) (SBC-3 §5.8-5.13,
// §5.33-5.39): the data path. One backstore call per command; the callback captures only the
// command, and data moves in the command's own buffer.
#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

Flow write_blocks(LuState& lu, Command& cmd, IoEngine& io, const cdb::Extent& e, bool fua) {
    if (auto error = check_extent(lu, e)) return fail(cmd, *error);
    if (e.blocks == 0) return good(cmd);  // SBC-3 §5.34: not an error, nothing written
    if (write_protected(lu, cmd)) return fail(cmd, write_protect_sense(lu, cmd));

    const auto bytes = whole_blocks_received(lu, cmd, e.blocks);
    if (!bytes) return fail(cmd, Sense::invalid_field_in_command_information_unit());
    if (*bytes == 0) return good(cmd);
    write_and_complete(lu, cmd, io, e.lba, 0, *bytes, fua);
    return Flow::pending;
}

}  // namespace

void write_and_complete(LuState& lu, Command& cmd, IoEngine& io, std::uint64_t lba, std::size_t at, std::size_t bytes,
                        bool fua) {
    // SBC-3 §6.4.5: with the write cache disabled every write is forced to the medium.
    fua = fua || !lu.write_cache.load(std::memory_order_relaxed);
    lu.store.write(lba * lu.block_size, ConstByteSpan(cmd.buffer.data() + at, bytes), fua, io,
                   [c = &cmd, l = &lu](std::error_code ec) {
                       if (ec) {
                           fail(*c, storage_error(*l, ec, true));
                       } else {
                           l->health.succeeded(true);
                           good(*c);
                       }
                       complete(*c);
                   });
}

Flow read(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    const cdb::Extent e = cdb::extent(c);
    // RDPROTECT: we have no protection information (SBC-3 §5.8, Table 58).
    if (c[0] != 0x08 && (c[1] & 0xe0)) return fail(cmd, Sense::invalid_field_in_cdb(1, 7));
    if (auto error = check_extent(lu, e)) return fail(cmd, *error);
    if (e.blocks == 0) return good(cmd);  // SBC-3 §5.9: not an error

    const std::size_t bytes = std::size_t{e.blocks} * lu.block_size;
    if (cmd.mapped_data_in_ok) {
        if (const std::byte* in_memory = lu.store.mapped(e.lba * lu.block_size, bytes)) {
            cmd.mapped_data_in = in_memory;
            cmd.mapped_file = lu.store.mapped_file(e.lba * lu.block_size, bytes);
            // The transport reads these bytes after the command completes: its blocks stay held
            // against atomic commands (COMPARE AND WRITE...) until they have been sent.
            if (cmd.extent_locks != nullptr) cmd.data_in_hold = cmd.extent_locks->hand_over(cmd);
            cmd.status = Status::good;
            cmd.data_in_length = static_cast<std::uint32_t>(bytes);
            return Flow::complete;
        }
        // A cache hit: Data-In points into the pinned cache page, no copy (DESIGN.md, step 4).
        if (auto lent = lu.store.lend(e.lba * lu.block_size, bytes, io); lent.lent()) {
            cmd.mapped_data_in = lent.data;
            cmd.data_in_pieces = lent.pieces;
            cmd.data_in_hold = std::move(lent.hold);
            cmd.status = Status::good;
            cmd.data_in_length = static_cast<std::uint32_t>(bytes);
            return Flow::complete;
        }
    }
    cmd.buffer.resize_for_overwrite(bytes);  // the backstore read fills every byte
    lu.store.read(e.lba * lu.block_size, ByteSpan(cmd.buffer.data(), bytes), io,
                  [c = &cmd, l = &lu](std::error_code ec) {
                      if (ec) {
                          fail(*c, storage_error(*l, ec, false));
                      } else {
                          l->health.succeeded(false);
                          c->status = Status::good;
                          c->data_in_length = static_cast<std::uint32_t>(c->buffer.size());
                      }
                      complete(*c);
                  });
    return Flow::pending;
}

Flow write(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    if (c[0] == 0x0a) return write_blocks(lu, cmd, io, cdb::extent(c), false);  // WRITE(6): no flags
    if (c[1] & 0xe0) return fail(cmd, Sense::invalid_field_in_cdb(1, 7));       // WRPROTECT
    // DPO is a caching hint we accept; FUA forces the data to the medium.
    return write_blocks(lu, cmd, io, cdb::extent(c), (c[1] & 0x08) != 0);
}

Flow write_and_verify(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    if (c[1] & 0xe0) return fail(cmd, Sense::invalid_field_in_cdb(1, 7));  // WRPROTECT
    // BYTCHK 00b (verify the medium) and 01b (compare with the data-out) are both satisfied by
    // writing through to the medium: what was written is what the medium holds.
    if (c[1] & 0x04) return fail(cmd, Sense::invalid_field_in_cdb(1, 2));
    return write_blocks(lu, cmd, io, cdb::extent(c), true);
}

}  // namespace iscsikit::scsi::detail
