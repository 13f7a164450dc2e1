// UNMAP (SBC-3 §4.7, UNMAP command) on a thin LU, and the deallocation it shares with WRITE
// SAME's UNMAP bit: the whole parameter list is checked before any block is touched, then the
// ranges go to the store one after another.
#include <algorithm>
#include <utility>
#include <vector>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

// SBC-3 UNMAP parameter list: an 8-byte header, then 16-byte UNMAP block descriptors.
constexpr std::size_t kHeaderBytes = 8;
constexpr std::size_t kDescriptorBytes = 16;

struct DeallocateJob {
    LuState* lu;
    Command* cmd;
    IoEngine* io;
    std::vector<ByteRange> ranges;
    std::size_t next = 0;
    bool flushed = false;
    bool submitting = false;
    bool completed_inline = false;
    std::error_code result{};  // the first failure; the job stops there
};

void finish(DeallocateJob* job) {
    Command& cmd = *job->cmd;
    if (job->result)
        fail(cmd, storage_error(*job->lu, job->result, true));
    else
        good(cmd);
    delete job;
    complete(cmd);
}

// Issues one store call after another until one completes asynchronously or all are done, in a
// loop rather than recursion so that an inline store cannot deepen the stack (as WRITE SAME).
void run(DeallocateJob* job) {
    for (;;) {
        if (job->result) return finish(job);
        const bool more = job->next < job->ranges.size();
        // SBC-3 §6.4.5: with the write cache disabled the change reaches the medium before GOOD.
        const bool flush = !more && !job->flushed && !job->lu->write_cache.load(std::memory_order_relaxed);
        if (!more && !flush) return finish(job);
        job->submitting = true;
        job->completed_inline = false;
        auto done = [job](std::error_code ec) {
            job->result = ec;
            if (job->submitting) {
                job->completed_inline = true;
                return;
            }
            run(job);
        };
        if (more) {
            const ByteRange range = job->ranges[job->next++];
            job->lu->store.unmap(range.offset, range.length, *job->io, std::move(done));
        } else {
            job->flushed = true;
            job->lu->store.flush(*job->io, std::move(done));
        }
        job->submitting = false;
        if (!job->completed_inline) return;
    }
}

}  // namespace

Flow deallocate(LuState& lu, Command& cmd, IoEngine& io, std::vector<ByteRange> ranges) {
    cmd.buffer.clear();
    run(new DeallocateJob{&lu, &cmd, &io, std::move(ranges)});
    return Flow::pending;
}

Flow unmap(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    if (c[1] & 0x01) return fail(cmd, Sense::invalid_field_in_cdb(1, 0));  // ANCHOR: ANC_SUP is 0
    if (write_protected(lu, cmd)) return fail(cmd, write_protect_sense(lu, cmd));
    const std::size_t list_length = load_be16(&c[7]);
    // SBC-3 UNMAP: a PARAMETER LIST LENGTH of zero is not an error; 1 to 7 cannot hold the header.
    if (list_length == 0) return good(cmd);
    // With a shorter data-out (the initiator's expected length was smaller), only what arrived counts.
    const std::size_t available = std::min(list_length, cmd.buffer.size());
    if (available < kHeaderBytes) return fail(cmd, Sense::parameter_list_length_error());

    const std::byte* p = cmd.buffer.data();
    const std::size_t descriptor_bytes = load_be16(p + 2);  // UNMAP BLOCK DESCRIPTOR DATA LENGTH
    // The descriptors the header announces must be in the parameter list it came in.
    if (kHeaderBytes + descriptor_bytes > available) return fail(cmd, Sense::parameter_list_length_error());
    // SBC-3 UNMAP parameter list: a trailing partial descriptor is ignored.
    const std::size_t count = descriptor_bytes / kDescriptorBytes;
    // SBC-3 UNMAP parameter list: more descriptors than MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT.
    if (count > kMaxUnmapDescriptors) return fail(cmd, Sense::invalid_field_in_parameter_list(2));

    std::vector<ByteRange> ranges;
    ranges.reserve(count);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t at = kHeaderBytes + i * kDescriptorBytes;
        const std::uint64_t lba = load_be64(p + at);
        const std::uint32_t blocks = load_be32(p + at + 8);
        // SBC-3 UNMAP parameter list: every descriptor inside the capacity ...
        if (!in_range(lu, lba, blocks)) return fail(cmd, Sense::lba_out_of_range());
        // ... and no more than MAXIMUM UNMAP LBA COUNT blocks in all.
        total += blocks;
        if (total * lu.block_size > kMaxUnmapBytes)
            return fail(cmd, Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(at + 8)));
        if (blocks != 0) ranges.push_back({lba * lu.block_size, std::uint64_t{blocks} * lu.block_size});
    }
    if (ranges.empty()) return good(cmd);
    return deallocate(lu, cmd, io, std::move(ranges));
}

}  // namespace iscsikit::scsi::detail
