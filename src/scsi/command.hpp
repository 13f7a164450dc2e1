// One SCSI command as the device layer sees it: the CDB, the I_T nexus it came from, the data-out
// bytes the transport gathered, and the outcome. Transport-neutral: scsi/ knows nothing of iSCSI.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/byte_buffer.hpp"
#include "core/bytes.hpp"
#include "core/callback.hpp"
#include "scsi/sense.hpp"

namespace iscsikit::scsi {

namespace detail {
class ExtentLocks;
}

// SAM-5 task attributes
enum class TaskAttribute : std::uint8_t { simple = 0, ordered = 1, head_of_queue = 2, aca = 3 };

// Called exactly once when a command has its outcome (see LogicalUnit::execute). Move-only,
// with room inline for what a transport captures, so a command's completion never allocates.
using CommandDone = Callback<void()>;

struct Command {
    std::array<std::uint8_t, 16> cdb{};
    std::uint64_t lun = 0;    // the LUN number (SAM "flat"/peripheral addressing decoded)
    std::uint64_t nexus = 0;  // identifies the I_T nexus (unit attentions, reservations)
    // The initiator port's TransportID (SPC-4 §7.6.4), which a persistent reservation registration
    // keeps for READ FULL STATUS; empty when the transport does not say. The transport owns the
    // bytes; they stay valid while the command runs.
    std::span<const std::uint8_t> transport_id;
    // The LUN is read-only for this I_T nexus (the initiator's LUN map says so): writes get DATA
    // PROTECT, WRITE PROTECTED and MODE SENSE shows WP, whatever the LU allows others.
    bool read_only = false;
    TaskAttribute attribute = TaskAttribute::simple;
    std::uint32_t expected_transfer_length = 0;  // what the transport says will move, in bytes

    // Data-out: the bytes the transport received (at most expected_transfer_length).
    // Data-in: the LU resizes it and fills it; data_in_length says how much is valid.
    ByteBuffer buffer;

    Status status = Status::good;
    Sense sense;
    std::uint32_t data_in_length = 0;

    // Set by a transport that can send data-in from the store's memory (Backstore::mapped)
    // without reading it in user space itself (no data digest to compute). A READ the store can
    // serve that way then points `mapped_data_in` at it instead of filling `buffer`: no read,
    // no copy. Those bytes observe later writes, so the transport sends them before letting a
    // command that may write them run (SAM-5 task attributes).
    bool mapped_data_in_ok = false;
    const std::byte* mapped_data_in = nullptr;
    // Or, for data-in the store lent in several pieces (Backstore::lend: cache pages), the pieces
    // in order; `mapped_data_in` is then null. Same rules as `mapped_data_in`.
    std::span<const ConstByteSpan> data_in_pieces;
    // Keeps `mapped_data_in` or the pieces valid when the store lent them (cache pages, pinned
    // until the command is destroyed, after the transport has sent them).
    Hold data_in_hold;
    // Whether data-in lies in the store's memory (mapped or lent), not in `buffer`.
    bool data_in_outside() const { return mapped_data_in || !data_in_pieces.empty(); }
    // Where those bytes lie in a file, when they do (Backstore::mapped_file): the transport may
    // then send them by page reference, which holds them past the send (see there).
    FileRange mapped_file;

    // The data-in bytes, wherever the LU put them, when they lie in one piece (not data_in_pieces).
    ConstByteSpan data_in() const { return {mapped_data_in ? mapped_data_in : buffer.data(), data_in_length}; }

    // The device layer keeps the completion here while storage works, so that its storage
    // callbacks capture two pointers and never allocate. Transports leave it alone.
    CommandDone completion;
    // The device layer's note that the command holds its range of blocks against atomic commands
    // (scsi/extent_lock.hpp), released when it completes. Transports leave them alone.
    detail::ExtentLocks* extent_locks = nullptr;
    std::uint8_t extent_hold = 0;
};

}  // namespace iscsikit::scsi
