// WRITE SAME(10/16) (SBC-3 §5.41-5.42): one block (or zeros with NDOB) written over a range, in
// chunks of kWriteSameChunkBytes, one backstore write at a time. With the UNMAP bit a thin LU
// deallocates the range instead; a fully provisioned LU refuses the bit (LBPWS and LBPWS10 are 0
// there).
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/byte_buffer.hpp"
#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

struct WriteSameJob {
    LuState* lu;
    Command* cmd;
    IoEngine* io;
    ByteBuffer chunk;  // the block repeated; pooled, so aligned as a file opened with O_DIRECT needs
    std::uint64_t offset;
    std::uint64_t end;
    bool fua;
    std::size_t in_flight = 0;
    bool submitting = false;
    bool completed_inline = false;
    std::error_code result{};  // of the write that just ended
};

void finish(WriteSameJob* job, std::optional<Sense> error) {
    Command& cmd = *job->cmd;
    if (error)
        fail(cmd, *error);
    else
        good(cmd);
    cmd.buffer.clear();
    delete job;
    complete(cmd);
}

// Accounts for the write that just ended; false when the job is over (and freed).
bool advance(WriteSameJob* job) {
    if (job->result) {
        finish(job, storage_error(*job->lu, job->result, true));
        return false;
    }
    job->offset += job->in_flight;
    return true;
}

// Issues writes until one completes asynchronously or the range is done. Inline completions
// loop here instead of recursing, so a synchronous store cannot deepen the stack.
void run(WriteSameJob* job) {
    for (;;) {
        if (job->offset >= job->end) return finish(job, std::nullopt);
        job->in_flight = static_cast<std::size_t>(std::min<std::uint64_t>(job->chunk.size(), job->end - job->offset));
        job->submitting = true;
        job->completed_inline = false;
        job->lu->store.write(job->offset, ConstByteSpan(job->chunk.data(), job->in_flight), job->fua, *job->io,
                             [job](std::error_code ec) {
                                 job->result = ec;
                                 if (job->submitting) {
                                     job->completed_inline = true;
                                     return;
                                 }
                                 if (advance(job)) run(job);
                             });
        job->submitting = false;
        if (!job->completed_inline) return;
        if (!advance(job)) return;
    }
}

}  // namespace

Flow write_same(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    const cdb::Extent e = cdb::extent(c);
    const bool sixteen = c[0] == 0x93;
    const bool no_data_out = sixteen && (c[1] & 0x01);                     // NDOB (SBC-4 §5.50)
    if (c[1] & 0xe0) return fail(cmd, Sense::invalid_field_in_cdb(1, 7));  // WRPROTECT: no protection information
    if (c[1] & 0x10) return fail(cmd, Sense::invalid_field_in_cdb(1, 4));  // ANCHOR: ANC_SUP is 0
    const auto length_field = static_cast<std::uint16_t>(e.length_field);
    if (!in_range(lu, e.lba, e.blocks)) return fail(cmd, Sense::lba_out_of_range());
    // SBC-3 §5.41: NUMBER OF LOGICAL BLOCKS 0 means "through the last block" (WSNZ is 0).
    const std::uint64_t blocks = e.blocks != 0 ? e.blocks : lu.block_count() - e.lba;
    const std::uint64_t range_bytes = blocks * lu.block_size;
    // Block Limits VPD: MAXIMUM WRITE SAME LENGTH bounds the range.
    if (blocks > lu.max_write_same_blocks()) return fail(cmd, Sense::invalid_field_in_cdb(length_field));
    if (write_protected(lu, cmd)) return fail(cmd, write_protect_sense(lu, cmd));
    const bool unmap = c[1] & 0x08;
    if (unmap && !lu.identity.thin) return fail(cmd, Sense::invalid_field_in_cdb(1, 3));
    // The data-out is exactly one block: less cannot be written, more is not what the CDB says.
    if (!no_data_out && (cmd.buffer.size() < lu.block_size || cmd.expected_transfer_length > lu.block_size))
        return fail(cmd, Sense::invalid_field_in_command_information_unit());
    if (blocks == 0) return good(cmd);
    // SBC-4 WRITE SAME, ANCHOR and UNMAP bits: UNMAP 1, ANCHOR 0 on a thin LU deallocates every
    // LBA of the range, whatever the block holds (LBPRZ: they read as zeros afterwards).
    if (unmap) return deallocate(lu, cmd, io, {{e.lba * lu.block_size, range_bytes}});

    const std::size_t chunk_blocks =
        static_cast<std::size_t>(std::min<std::uint64_t>(blocks, kWriteSameChunkBytes / lu.block_size));
    auto* job = new WriteSameJob{&lu,
                                 &cmd,
                                 &io,
                                 ByteBuffer{},
                                 e.lba * lu.block_size,
                                 e.lba * lu.block_size + range_bytes,
                                 !lu.write_cache.load(std::memory_order_relaxed)};
    job->chunk.resize(chunk_blocks * lu.block_size);  // zeros, unless the data-out's block is repeated
    if (!no_data_out)
        for (std::size_t i = 0; i < chunk_blocks; ++i)
            std::memcpy(job->chunk.data() + i * lu.block_size, cmd.buffer.data(), lu.block_size);
    run(job);
    return Flow::pending;
}

}  // namespace iscsikit::scsi::detail
