// One LUN seen as a file of bytes: what `iscsikit mount` serves as MOUNTPOINT/lun<N>. Reads and
// writes at any offset and length become READ(16)/WRITE(16) of whole blocks: a write that covers
// part of a block reads that block first and writes it back whole (read-modify-write). Writes
// whose blocks overlap run one after the other in the order they came, so a read-modify-write
// never loses a neighbour's bytes and the last write of a block is the one that stays; writes to
// other blocks, and every read, run side by side.
//
// Threading: like the Session, a LunFile lives on the session's executor; every coroutine runs
// there. Failures are errno values (std::generic_category), each logged once with the target's
// reason, because the file system above can only pass a number on.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "core/bytes.hpp"
#include "core/result.hpp"
#include "initiator/session.hpp"

namespace iscsikit::mount {

// What the mount needs to know of a LUN, asked of the target once when it mounts.
struct LunGeometry {
    std::uint64_t lun = 0;
    std::uint32_t block_size = 512;
    std::uint64_t blocks = 0;
    std::uint32_t max_transfer_bytes = 0;      // largest READ/WRITE in bytes, a whole number of blocks
    std::uint32_t optimal_transfer_bytes = 0;  // 0: the LUN names none
    bool write_protected = false;
    bool thin = false;                        // LBPME: UNMAP deallocates
    bool lbprz = false;                       // unmapped blocks read as zeros
    std::uint32_t max_unmap_blocks = 0;       // per UNMAP descriptor; 0: no limit given
    std::uint32_t max_unmap_descriptors = 0;  // per UNMAP command; 0: no limit given
    std::uint64_t bytes() const { return blocks * block_size; }
};

// The largest READ or WRITE the mount sends when the LUN gives no limit of its own.
inline constexpr std::uint32_t kDefaultMaxTransferBytes = 1u << 20;

class LunFile {
public:
    // Asks the target for the LUN's geometry (READ CAPACITY(16), the Block Limits VPD page when
    // it has one, MODE SENSE(6) for write protection). The message of a failure names the LUN.
    static asio::awaitable<Result<std::unique_ptr<LunFile>>> open(initiator::Session& session, std::uint64_t lun);

    LunFile(initiator::Session& session, LunGeometry geometry);
    LunFile(const LunFile&) = delete;
    LunFile& operator=(const LunFile&) = delete;

    const LunGeometry& geometry() const { return geometry_; }
    std::uint64_t size() const { return geometry_.bytes(); }
    // "lun0 (LUN 0 of iqn.2026-11.x:disk)", for log lines.
    std::string name() const;

    // Up to out.size() bytes from `offset`: fewer at the end of the LUN, none past it (end of file).
    asio::awaitable<Result<std::size_t>> read(std::uint64_t offset, std::span<std::byte> out);
    // All of `data` at `offset`, or as much as fits before the end of the LUN (a short count, as a
    // block device gives); a write that starts at or past the end fails with ENOSPC. `data` must
    // stay valid until the write completes. With `fua`, the blocks are on stable storage when it
    // completes (WRITE(16) with FUA).
    asio::awaitable<Result<std::size_t>> write(std::uint64_t offset, std::span<const std::byte> data, bool fua = false);
    // Everything written before is on stable storage (SYNCHRONIZE CACHE(16)).
    asio::awaitable<Result<void>> flush();
    // Afterwards [offset, offset + length) reads as zeros and its whole blocks are given back
    // (UNMAP); partial blocks at the edges are written with zeros. EOPNOTSUPP unless the LUN is
    // thin provisioned and reads unmapped blocks as zeros (LBPME and LBPRZ).
    asio::awaitable<Result<void>> punch_hole(std::uint64_t offset, std::uint64_t length);

private:
    struct PendingWrite {
        std::uint64_t first_block = 0;
        std::uint64_t end_block = 0;         // exclusive
        asio::steady_timer* wake = nullptr;  // set while the write waits for an earlier one
    };
    using PendingList = std::list<PendingWrite>;
    class WriteTurn;

    // Waits until no write that came before `self` overlaps its blocks.
    asio::awaitable<void> wait_for_turn(PendingList::iterator self);
    void finish_turn(PendingList::iterator self);

    // Whole blocks from `lba`, split at max_transfer_bytes.
    asio::awaitable<Result<void>> read_blocks(std::uint64_t lba, std::span<std::byte> out);
    asio::awaitable<Result<void>> write_blocks(std::uint64_t lba, std::span<const std::byte> data, bool fua);
    asio::awaitable<Result<void>> unmap_blocks(std::uint64_t lba, std::uint64_t count);
    // Writes `data` at a byte offset inside the LUN, reading and merging partial edge blocks.
    asio::awaitable<Result<void>> write_bytes(std::uint64_t offset, std::span<const std::byte> data, bool fua);
    // The errno for a failed command, and its log line.
    Error failure(const initiator::Error& error) const;

    initiator::Session& session_;
    LunGeometry geometry_;
    PendingList pending_;
};

// errno for an initiator error: EROFS for a write-protected medium, ENOSPC when space allocation
// failed, ENOMEDIUM with no medium, EIO for anything else the target or the network did.
int errno_for(const initiator::Error& error);

}  // namespace iscsikit::mount
