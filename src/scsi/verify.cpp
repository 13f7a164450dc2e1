// VERIFY(10/12/16) (SBC-3 §5.29-5.31, BYTCHK as in SBC-4 §5.30): BYTCHK 00b checks only that
// the blocks exist (a RAM or file medium is always readable); 01b compares the data-out with
// the medium; 11b compares one data-out block with every block of the range.
#include <algorithm>
#include <cstring>

#include "core/byte_buffer.hpp"
#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

struct VerifyJob {
    LuState* lu;
    Command* cmd;
    ByteBuffer medium;          // pooled, so aligned as a file opened with O_DIRECT needs
    std::size_t pattern_bytes;  // bytes of data-out compared against each stretch of the medium
};

void finish_verify(VerifyJob* job, std::error_code ec) {
    Command& cmd = *job->cmd;
    if (ec) {
        fail(cmd, storage_error(*job->lu, ec, false));
    } else {
        const std::byte* expected = cmd.buffer.data();
        std::optional<std::uint64_t> mismatch;
        for (std::size_t at = 0; at < job->medium.size() && !mismatch; at += job->pattern_bytes) {
            const std::byte* actual = job->medium.data() + at;
            if (std::memcmp(actual, expected, job->pattern_bytes) == 0) continue;
            const auto* first = std::mismatch(actual, actual + job->pattern_bytes, expected).first;
            mismatch = at + static_cast<std::size_t>(first - actual);
        }
        // SBC-3 §5.29: MISCOMPARE, INFORMATION = offset of the first byte that differs.
        if (mismatch)
            fail(cmd, Sense::miscompare_during_verify(*mismatch));
        else
            good(cmd);
    }
    cmd.buffer.clear();
    delete job;
    complete(cmd);
}

}  // namespace

Flow verify(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    const cdb::Extent e = cdb::extent(c);
    if (c[1] & 0xe0) return fail(cmd, Sense::invalid_field_in_cdb(1, 7));  // VRPROTECT: no protection information
    const unsigned bytchk = (c[1] >> 1) & 0x03;
    if (bytchk == 2) return fail(cmd, Sense::invalid_field_in_cdb(1, 2));  // reserved
    const std::uint64_t range_bytes = std::uint64_t{e.blocks} * lu.block_size;
    if (bytchk != 0 && range_bytes > kMaxTransferBytes)
        return fail(cmd, Sense::invalid_field_in_cdb(static_cast<std::uint16_t>(e.length_field)));
    if (!in_range(lu, e.lba, e.blocks)) return fail(cmd, Sense::lba_out_of_range());
    if (e.blocks == 0 || bytchk == 0) return good(cmd);

    // As for WRITE: compare the whole blocks that arrived; a partial block is an error.
    const std::size_t pattern = bytchk == 1 ? static_cast<std::size_t>(range_bytes) : lu.block_size;
    std::size_t medium_bytes = static_cast<std::size_t>(range_bytes);
    if (cmd.buffer.size() < pattern) {
        if (cmd.buffer.size() % lu.block_size != 0)
            return fail(cmd, Sense::invalid_field_in_command_information_unit());
        if (cmd.buffer.empty()) return good(cmd);
        medium_bytes = cmd.buffer.size();  // only reachable with BYTCHK 01b
    }
    auto* job = new VerifyJob{&lu, &cmd, ByteBuffer{}, bytchk == 1 ? medium_bytes : pattern};
    job->medium.resize_for_overwrite(medium_bytes);  // the read fills it
    lu.store.read(e.lba * lu.block_size, ByteSpan(job->medium.data(), job->medium.size()), io,
                  [job](std::error_code ec) { finish_verify(job, ec); });
    return Flow::pending;
}

}  // namespace iscsikit::scsi::detail
