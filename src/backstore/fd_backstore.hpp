// A backstore over a file descriptor, shared by the file and block-device stores: both move their
// blocks through the reactor's IoEngine and differ only in how they are opened and sized. Both
// deallocate with fallocate(PUNCH_HOLE) (a hole in a file; a discard that guarantees zeros on a
// device) and find what is mapped with lseek(SEEK_DATA/SEEK_HOLE) (devices: everything).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "backstore/backstore.hpp"

namespace iscsikit::backstore {

class FdBackstore final : public Backstore {
public:
    static constexpr std::size_t kInlineCopyLimit = std::size_t{64} * 1024;
    // A file on a disk lends ranges at least this long in place (mapped) when all their pages
    // are in the page cache. Shorter ones are read through the engine: asking the kernel
    // (mincore) would cost about what it saves.
    static constexpr std::size_t kMinPageCacheMapped = std::size_t{64} * 1024;

    // What of the store can be read in place (`mapped`).
    enum class Mapping {
        none,        // nothing (block devices)
        in_memory,   // everything: the file lives in memory (tmpfs, ramfs; see is_in_memory)
        page_cache,  // a file on a disk: ranges of kMinPageCacheMapped or more whose pages are all
                     // in the page cache (mincore), so reading them cannot wait for the disk
    };

    // Takes ownership of `fd`. `description` is what describe() returns ("file:/srv/lun0.img").
    // In memory (Mapping::in_memory), reads and writes are copies that never wait for a device.
    // Those up to kInlineCopyLimit bytes then run on the caller's thread: io_uring cannot tell
    // that they will not block (tmpfs refuses RWF_NOWAIT) and hands each one to a kernel worker,
    // whose wake-up and hand-back cost more than a small copy. Larger ones still go to the
    // workers, which copy while the reactor sends.
    FdBackstore(int fd, std::string description, std::uint64_t size, std::uint32_t block_size, bool read_only,
                Mapping mapping = Mapping::none);
    ~FdBackstore() override;
    FdBackstore(const FdBackstore&) = delete;
    FdBackstore& operator=(const FdBackstore&) = delete;

    std::string describe() const override { return description_; }
    std::uint64_t size_bytes() const override { return size_.load(std::memory_order_acquire); }
    std::uint32_t block_size() const override { return block_size_; }
    bool read_only() const override { return read_only_; }
    // A file grows (ftruncate, sparse as a new one is made); a block device only takes the size
    // it has grown to already (BLKGETSIZE64). The file's mapping grows in place, within its
    // reservation; past that, the added range is read through the engine rather than mapped.
    Result<void> resize(std::uint64_t new_size_bytes) override;

    void read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) override;
    void readv(std::uint64_t offset, std::span<iovec> pieces, IoEngine& io, IoCallback done) override;
    void write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) override;
    void flush(IoEngine& io, IoCallback done) override;
    void unmap(std::uint64_t offset, std::uint64_t length, IoEngine& io, IoCallback done) override;
    tl::expected<Provisioning, std::error_code> provisioning(std::uint64_t offset,
                                                             std::uint64_t max_length) const override;
    // Files only (see Mapping), mapped read-only and shared for the store's life.
    const std::byte* mapped(std::uint64_t offset, std::uint64_t length) const override;
    FileRange mapped_file(std::uint64_t offset, std::uint64_t length) const override;

private:
    // Whether [offset, offset + length) lies in the store: one load of the size per check, so a
    // resize in between cannot make two loads disagree.
    bool in_range(std::uint64_t offset, std::uint64_t length) const;
    // ... and in the part of it that map_ covers.
    bool in_map(std::uint64_t offset, std::uint64_t length) const;
    Result<void> grow_file(std::uint64_t new_size, std::int64_t file_size);
    Result<void> check_device_size(std::uint64_t new_size) const;
    void grow_map(std::uint64_t new_size);
    // Every page of [offset, offset + length) is in the page cache (mincore(2)).
    bool resident(std::uint64_t offset, std::uint64_t length) const;
    // The engine a transfer of `length` bytes goes through: the reactor's, or the inline one.
    IoEngine& engine(IoEngine& reactor_io, std::size_t length = 0) const {
        return inline_io_ && length <= kInlineCopyLimit ? *inline_io_ : reactor_io;
    }
    // lseek(fd, offset, whence) for SEEK_DATA/SEEK_HOLE, clamped to the store's `size`; "no more
    // data" (ENXIO) is the end of the store.
    tl::expected<std::uint64_t, std::error_code> seek(std::uint64_t offset, int whence, std::uint64_t size) const;

    int fd_;
    std::string description_;
    // Read on every command by other threads (LuState::block_count); stored (release) by resize
    // once the storage has the new size.
    std::atomic<std::uint64_t> size_;
    std::uint32_t block_size_;
    bool read_only_;
    std::unique_ptr<IoEngine> inline_io_;  // set for in-memory files: pread/pwrite on the caller's thread
    Mapping mapping_;
    std::byte* map_ = nullptr;  // files: the whole store, PROT_READ, MAP_SHARED
    // The bytes map_ covers: the store's size, unless a resize could not grow the mapping (it
    // grows in place, into the address space reserved after it, and never moves: transfers hold
    // pointers into it).
    std::atomic<std::uint64_t> map_size_{0};
    std::uint64_t map_reserved_ = 0;  // the reservation map_ starts, all unmapped at the end
    std::mutex resize_mutex_;         // one resize at a time
    // Set once PUNCH_HOLE fails with EOPNOTSUPP (a device that cannot discard with guaranteed
    // zeros); unmap then uses ZERO_RANGE, which the kernel may carry out by writing zeros.
    std::atomic<bool> punch_unsupported_{false};
};

// Whether the file behind `fd` lives in memory (tmpfs, ramfs), from fstatfs(2). Only
// meaningful for regular files: a device node on devtmpfs is not the device's storage.
bool is_in_memory(int fd);

// For a thin file store: whether the file system can punch holes, probed past the end of the
// file (a no-op where it is supported). An error names the path.
Result<void> check_hole_punching(int fd, const std::string& path);

// For a descriptor opened with O_DIRECT: that the file system can do direct I/O at the LUN's
// block size with the buffers BlockPool gives (statx STATX_DIOALIGN, where the kernel reports it).
// An error names the path and what to change.
Result<void> check_direct_io(int fd, const std::string& path, std::uint32_t block_size);

// Checks what every store requires of Options: a block size of 512 or 4096, and a size (when
// given) that is a whole number of blocks. `what` names the store in the message.
Result<void> check_options(const std::string& what, const Options& options);

// Checks a resize of the store `what` from `from` to `to` bytes against what every store
// requires (Backstore::resize): a size > 0 in whole blocks, no shrinking, no change to a read-only
// store. Success includes `to == from`, which the caller then treats as done.
Result<void> check_resize(const std::string& what, std::uint64_t from, std::uint64_t to, std::uint32_t block_size,
                          bool read_only);

// Address space for a mapping of `size` bytes to grow into in place (resize): a store's mapping
// never moves, since transfers hold pointers into it. Four times the size, at least 64 GiB, at
// most 4 TiB (a 47-bit address space holds 32 of those), never less than `size`; PROT_NONE and
// MAP_NORESERVE, so it costs no memory and no commit charge. Where that much is refused (RLIMIT_AS),
// just `size`, and the store's mapping cannot grow (`what` names it in the log). Sets `reserved`
// to the length to munmap; null when not even `size` could be had.
std::byte* reserve_address_space(const std::string& what, std::uint64_t size, std::uint64_t& reserved);

std::uint64_t page_up(std::uint64_t bytes);  // to whole pages

// "PATH: what: strerror(err)", the shape of every open error.
std::string errno_message(const std::string& path, const std::string& what, int err);

}  // namespace iscsikit::backstore
