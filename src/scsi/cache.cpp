// SYNCHRONIZE CACHE(10/16) (SBC-3 §5.22-5.23) and PRE-FETCH(10/16) (SBC-3 §5.6-5.7).
#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {

Flow flush_and_complete(LuState& lu, Command& cmd, IoEngine& io) {
    lu.store.flush(io, [c = &cmd](std::error_code ec) {
        if (ec)
            fail(*c, Sense::write_error());
        else
            good(*c);
        complete(*c);
    });
    return Flow::pending;
}

Flow synchronize_cache(LuState& lu, Command& cmd, IoEngine& io) {
    const cdb::Extent e = cdb::extent(cmd.cdb);
    // NUMBER OF LOGICAL BLOCKS 0 means "to the end of the medium"; the range must exist.
    if (!in_range(lu, e.lba, e.blocks)) return fail(cmd, Sense::lba_out_of_range());
    // The backstore flushes as a whole, which covers any range. IMMED is honoured by simply
    // finishing: the status never goes out before the data is on stable storage.
    return flush_and_complete(lu, cmd, io);
}

Flow pre_fetch(LuState& lu, Command& cmd, IoEngine&) {
    const cdb::Extent e = cdb::extent(cmd.cdb);
    if (!in_range(lu, e.lba, e.blocks)) return fail(cmd, Sense::lba_out_of_range());
    // No cache to load: GOOD (not CONDITION MET) says the blocks were not all cached.
    return good(cmd);
}

}  // namespace iscsikit::scsi::detail
