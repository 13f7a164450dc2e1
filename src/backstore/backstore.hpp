// A backstore is where a logical unit's blocks live: RAM, a regular file, a block device. One
// interface, no SCSI knowledge (DESIGN.md layers). Offsets and lengths are in bytes and always
// multiples of the block size; callbacks run on the calling reactor's thread.
//
// Provisioning: every store can deallocate a range (unmap) so that it reads back as zeros
// afterwards, and can say which of its bytes are backed by storage (provisioning); a store that
// cannot tell reports everything mapped.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>

#include <tl/expected.hpp>

#include "core/io_engine.hpp"
#include "core/result.hpp"

namespace iscsikit::backstore {

struct Options {
    std::uint32_t block_size = 512;  // 512 or 4096
    bool read_only = false;
    bool thin = false;  // the LU is thin provisioned (SBC-3 §4.7): UNMAP deallocates
    bool removable = false;
    bool create = true;      // file: create it (sparse) when missing, with `size` bytes
    std::uint64_t size = 0;  // ram: required; file: size of a new file, or 0 for "as is"
    // file and block device: open with O_DIRECT, so no block is kept in the kernel's page cache
    // (cache=none); every buffer handed to the store must then be aligned as BlockPool aligns.
    bool direct = false;
};

class Backstore {
public:
    virtual ~Backstore() = default;
    virtual std::string describe() const = 0;  // "ram:1073741824", "file:/srv/lun0.img"
    virtual std::uint64_t size_bytes() const = 0;
    virtual std::uint32_t block_size() const = 0;
    virtual bool read_only() const = 0;

    // Grows the store to `new_size_bytes` while it is served (management: `lun resize`). The size
    // must be a whole number of blocks; the same size succeeds and changes nothing; shrinking is
    // refused (it would discard data), and so is any change to a read-only store. The added
    // bytes read as zeros. size_bytes() says the new size only once the storage has it, so a
    // command on another thread that sees it may use those blocks; nothing the store has lent
    // (mapped, lend) moves. Errors say what to do: std::errc::invalid_argument (not whole blocks,
    // a shrink, a block device's own size), std::errc::read_only_file_system,
    // std::errc::operation_not_supported (the default: this store cannot be resized), else what
    // the system said. Concurrent calls on one store are serialised.
    virtual Result<void> resize(std::uint64_t new_size_bytes);

    // done as IoCallback: success (the full length), or the failure: std::errc::invalid_argument for
    // a range outside the store, std::errc::read_only_file_system for a write to a read-only
    // store, else the system's errno (std::errc::io_error, std::errc::no_space_on_device, ...).
    virtual void read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) = 0;
    // Like read, the bytes scattered over `pieces` in order (the block cache reads a run of
    // pages straight into their frames). `pieces` stays valid, and may be changed by the store,
    // until `done` runs. The default reads each piece on its own; file stores use one preadv.
    virtual void readv(std::uint64_t offset, std::span<iovec> pieces, IoEngine& io, IoCallback done);
    // fua: the data is on stable storage before `done` runs (RFC: FUA / write cache off).
    virtual void write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) = 0;
    // Everything written before is on stable storage when `done` runs.
    virtual void flush(IoEngine& io, IoCallback done) = 0;

    // The store's bytes [offset, offset + length) where they already lie in this process's memory,
    // so a transport can send them with no read and no copy of its own (the socket's copy is the
    // only one): RAM, a file that lives in memory (tmpfs), mapped, and a long range of a file on
    // a disk whose pages are all in the page cache. Null when the store cannot (block devices; a
    // file's pages not in memory: touching them would block the reactor) or the range is outside it. Reading the bytes
    // observes later writes: send them before anything may write the range. Only system calls should read them: a file
    // truncated behind our back turns a read of its mapping into SIGBUS in user space, into EFAULT in the kernel.
    virtual const std::byte* mapped(std::uint64_t offset, std::uint64_t length) const {
        (void)offset;
        (void)length;
        return nullptr;
    }

    // Where the bytes `mapped` returns for [offset, offset + length) lie in a file, so that a
    // transport can send them by page reference (sendfile), with no copy at all on its side; a
    // store that maps no file says nowhere. The pages stay referenced until the peer has read
    // them, so what holds back a later write must wait for that, not for the send (SAM-5 §8.6).
    // The descriptor must stay open while a queued send names it (a closed one could be reused
    // for another file): stores live as long as the server, and removing a LUN while the server
    // runs will have to wait for the connections' queued sends.
    virtual FileRange mapped_file(std::uint64_t offset, std::uint64_t length) const {
        (void)offset;
        (void)length;
        return {};
    }

    // Bytes the store keeps in memory of its own (the block cache's pages), lent to a transfer:
    // [offset, offset + length) when all of it is resident, in one piece or several, pinned
    // (never evicted nor reused) until `hold` is destroyed. Nothing when the store cannot. Reading the bytes observes
    // later writes, as with `mapped`: send them before anything may write the range. `io`: the
    // caller's reactor, where what the lending starts (read-ahead) completes.
    struct Lent {
        const std::byte* data = nullptr;        // the bytes, when they lie in one piece
        std::span<const ConstByteSpan> pieces;  // else the pieces, in order (valid while `hold` is)
        Hold hold;
        bool lent() const { return data || !pieces.empty(); }
    };
    virtual Lent lend(std::uint64_t offset, std::uint64_t length, IoEngine& io) {
        (void)offset;
        (void)length;
        (void)io;
        return {};
    }

    // Deallocates [offset, offset + length): afterwards the range reads as zeros, and its storage
    // is given back where the store can (file: hole punched; block device: discarded; RAM: pages
    // released). done as IoCallback: success, or the failure (std::errc::read_only_file_system
    // read-only, std::errc::invalid_argument out of range or not whole blocks, else the system's
    // errno). The default writes nothing and fails with std::errc::operation_not_supported.
    virtual void unmap(std::uint64_t offset, std::uint64_t length, IoEngine& io, IoCallback done);

    // Whether the bytes at `offset` are backed by storage, and for how many bytes from there (a
    // whole number of blocks, at least one, at most `max_length`) that stays the same. A block
    // that is partly backed counts as mapped. Synchronous: a metadata query. Fails with
    // std::errc::invalid_argument when `offset` is not a block inside the store, else with the
    // system's errno (std::generic_category). The default reports everything mapped.
    struct Provisioning {
        bool mapped = true;
        std::uint64_t length = 0;
    };
    virtual tl::expected<Provisioning, std::error_code> provisioning(std::uint64_t offset,
                                                                     std::uint64_t max_length) const;
};

Result<std::unique_ptr<Backstore>> make_ram(const Options& options);
Result<std::unique_ptr<Backstore>> open_file(const std::string& path, const Options& options);
Result<std::unique_ptr<Backstore>> open_block_device(const std::string& path, const Options& options);

}  // namespace iscsikit::backstore
