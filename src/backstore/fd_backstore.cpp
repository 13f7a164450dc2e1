#include "backstore/fd_backstore.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/size.hpp"

namespace iscsikit::backstore {

FdBackstore::FdBackstore(int fd, std::string description, std::uint64_t size, std::uint32_t block_size, bool read_only,
                         Mapping mapping)
    : fd_(fd),
      description_(std::move(description)),
      size_(size),
      block_size_(block_size),
      read_only_(read_only),
      inline_io_(mapping == Mapping::in_memory ? make_sync_io_engine() : nullptr),
      mapping_(mapping) {
    if (mapping == Mapping::none) return;
    // Shared, so it sees every write through fd_ (one page cache); read-only, so no bug of ours
    // can write through it. Without it, reads still work through pread. At the start of a
    // reservation, to grow into when the store does.
    std::uint64_t reserved = 0;
    std::byte* base = reserve_address_space(description_, size, reserved);
    if (!base || ::mmap(base, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd_, 0) == MAP_FAILED) {
        spdlog::warn("{}: cannot map the file ({}): reads are copied through a buffer", description_,
                     std::strerror(errno));
        if (base) ::munmap(base, reserved);
        return;
    }
    map_ = base;
    map_reserved_ = reserved;
    map_size_.store(size, std::memory_order_relaxed);
}

FdBackstore::~FdBackstore() {
    if (map_) ::munmap(map_, map_reserved_);  // the whole reservation, mapped or not
    ::close(fd_);
}

Result<void> FdBackstore::resize(std::uint64_t new_size) {
    std::lock_guard lock(resize_mutex_);
    const std::uint64_t old_size = size_.load(std::memory_order_relaxed);
    if (auto ok = check_resize(description_, old_size, new_size, block_size_, read_only_); !ok || new_size == old_size)
        return ok;
    struct stat st {};
    if (::fstat(fd_, &st) < 0)
        return fail(std::error_code(errno, std::generic_category()), errno_message(description_, "cannot stat", errno));
    if (auto ok = S_ISBLK(st.st_mode) ? check_device_size(new_size) : grow_file(new_size, st.st_size); !ok) return ok;
    grow_map(new_size);
    // Published last: a command that sees the new size finds the blocks there.
    size_.store(new_size, std::memory_order_release);
    spdlog::info("{}: grown from {} to {} bytes", description_, old_size, new_size);
    return {};
}

// As open_file makes a new file: sparse, the added range a hole that reads as zeros. Bytes the
// file has already past the store's end (a tail short of a block, or grown by someone else) are
// kept, never truncated away, and become the store's as they are.
Result<void> FdBackstore::grow_file(std::uint64_t new_size, std::int64_t file_size) {
    if (file_size >= 0 && static_cast<std::uint64_t>(file_size) >= new_size) return {};
    if (::ftruncate(fd_, static_cast<off_t>(new_size)) < 0) {
        const int err = errno;
        return fail(
            std::error_code(err, std::generic_category()),
            errno_message(description_, fmt::format("cannot grow the backing file to {} bytes", new_size), err));
    }
    return {};
}

Result<void> FdBackstore::check_device_size(std::uint64_t new_size) const {
    std::uint64_t bytes = 0;
    if (::ioctl(fd_, BLKGETSIZE64, &bytes) < 0)
        return fail(std::error_code(errno, std::generic_category()),
                    errno_message(description_, "BLKGETSIZE64 failed", errno));
    const std::uint64_t device_size = bytes - bytes % block_size_;  // whole blocks, as open_block_device
    if (device_size == new_size) return {};
    return fail(std::make_error_code(std::errc::invalid_argument),
                fmt::format("{}: a block device's size is its own: grow the device, then resize to its new size "
                            "({} bytes now)",
                            description_, device_size));
}

// In place or not at all: a transfer may hold a pointer into the mapping. The added pages are
// mapped over the reservation after it (the page holding the old end is mapped already). Past the
// reservation, the added range is read through the engine (mapped says no).
void FdBackstore::grow_map(std::uint64_t new_size) {
    if (!map_) return;
    const std::uint64_t old_size = map_size_.load(std::memory_order_relaxed);
    const std::uint64_t from = page_up(old_size), to = page_up(new_size);
    const bool fits = new_size <= map_reserved_;
    if (!fits || (to > from && ::mmap(map_ + from, to - from, PROT_READ, MAP_SHARED | MAP_FIXED, fd_,
                                      static_cast<off_t>(from)) == MAP_FAILED)) {
        spdlog::info("{}: the file's mapping cannot grow ({}): bytes past {} are read, not mapped", description_,
                     fits ? std::strerror(errno) : "past the address space reserved for it", old_size);
        return;
    }
    map_size_.store(new_size, std::memory_order_release);
}

const std::byte* FdBackstore::mapped(std::uint64_t offset, std::uint64_t length) const {
    if (!map_ || !in_map(offset, length)) return nullptr;
    if (mapping_ == Mapping::page_cache && (length < kMinPageCacheMapped || !resident(offset, length))) return nullptr;
    return map_ + offset;
}

// A page evicted between this check and the send is read from the disk by the send, on the
// reactor: rare (memory pressure within microseconds), and then only that wait, never wrong data.
bool FdBackstore::resident(std::uint64_t offset, std::uint64_t length) const {
    static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    std::uint64_t at = offset / page * page;
    const std::uint64_t end = offset + length;
    std::array<unsigned char, 256> pages{};  // a MiB of 4 KiB pages per call, on the stack
    while (at < end) {
        const std::uint64_t span = std::min<std::uint64_t>(end - at, pages.size() * page);
        if (::mincore(map_ + at, span, pages.data()) < 0) return false;
        const std::size_t count = (span + page - 1) / page;
        for (std::size_t i = 0; i < count; ++i)
            if (!(pages[i] & 1)) return false;
        at += span;
    }
    return true;
}

FileRange FdBackstore::mapped_file(std::uint64_t offset, std::uint64_t length) const {
    if (!map_ || !in_map(offset, length)) return {};
    return {fd_, offset};
}

bool FdBackstore::in_range(std::uint64_t offset, std::uint64_t length) const {
    const std::uint64_t size = size_.load(std::memory_order_acquire);
    return offset <= size && length <= size - offset;
}

bool FdBackstore::in_map(std::uint64_t offset, std::uint64_t length) const {
    const std::uint64_t size =
        std::min(size_.load(std::memory_order_acquire), map_size_.load(std::memory_order_acquire));
    return offset <= size && length <= size - offset;
}

void FdBackstore::read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) {
    if (!in_range(offset, dst.size())) return done(std::make_error_code(std::errc::invalid_argument));
    engine(io, dst.size()).read(fd_, offset, dst, std::move(done));
}

void FdBackstore::readv(std::uint64_t offset, std::span<iovec> pieces, IoEngine& io, IoCallback done) {
    const std::uint64_t length = total_length(pieces);
    if (!in_range(offset, length)) return done(std::make_error_code(std::errc::invalid_argument));
    engine(io, length).readv(fd_, offset, pieces, std::move(done));
}

void FdBackstore::write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& reactor_io, IoCallback done) {
    IoEngine& io = engine(reactor_io, src.size());
    if (read_only_) return done(std::make_error_code(std::errc::read_only_file_system));
    if (!in_range(offset, src.size())) return done(std::make_error_code(std::errc::invalid_argument));
    // FUA: the status may only go out once the data is stable; RWF_DSYNC makes the write and
    // the sync of its range one operation (no second request, no callback wrapped in another).
    if (fua) return io.write_durable(fd_, offset, src, std::move(done));
    io.write(fd_, offset, src, std::move(done));
}

void FdBackstore::flush(IoEngine& io, IoCallback done) {
    if (read_only_) return done(std::error_code{});  // nothing of ours can be dirty
    engine(io).fsync(fd_, true, std::move(done));
}

void FdBackstore::unmap(std::uint64_t offset, std::uint64_t length, IoEngine& reactor_io, IoCallback done) {
    IoEngine& io = engine(reactor_io);
    if (read_only_) return done(std::make_error_code(std::errc::read_only_file_system));
    if (!in_range(offset, length) || offset % block_size_ != 0 || length % block_size_ != 0)
        return done(std::make_error_code(std::errc::invalid_argument));
    if (length == 0) return done(std::error_code{});
    // KEEP_SIZE: the store's size never changes. A hole reads as zeros (fallocate(2)).
    if (punch_unsupported_.load(std::memory_order_relaxed))
        return io.fallocate(fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length, std::move(done));
    io.fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length,
                 [this, &io, offset, length, done = std::move(done)](std::error_code ec) mutable {
                     if (ec != std::errc::operation_not_supported) return done(ec);
                     punch_unsupported_.store(true, std::memory_order_relaxed);
                     io.fallocate(fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length, std::move(done));
                 });
}

tl::expected<std::uint64_t, std::error_code> FdBackstore::seek(std::uint64_t offset, int whence,
                                                               std::uint64_t size) const {
    const off_t at = ::lseek(fd_, static_cast<off_t>(offset), whence);
    if (at < 0 && errno == ENXIO) return size;
    if (at < 0) return tl::unexpected(std::error_code(errno, std::generic_category()));
    return std::min(static_cast<std::uint64_t>(at), size);
}

tl::expected<Backstore::Provisioning, std::error_code> FdBackstore::provisioning(std::uint64_t offset,
                                                                                 std::uint64_t max_length) const {
    const std::uint64_t size = size_.load(std::memory_order_acquire);  // once: a resize may run meanwhile
    if (offset >= size || offset % block_size_ != 0)
        return tl::unexpected(std::make_error_code(std::errc::invalid_argument));
    const auto down = [this](std::uint64_t v) { return v - v % block_size_; };
    const auto up = [this, down, size](std::uint64_t v) { return std::min(down(v + block_size_ - 1), size); };
    const std::uint64_t wanted = std::max<std::uint64_t>(down(max_length), block_size_);
    const std::uint64_t limit = offset + std::min(wanted, size - offset);

    auto data = seek(offset, SEEK_DATA, size);
    if (!data) return tl::unexpected(data.error());
    if (down(*data) > offset) return Provisioning{false, std::min(down(*data), limit) - offset};
    // The block at `offset` holds data: extend over data extents (and blocks only partly a hole)
    // until a whole block of hole begins.
    std::uint64_t end = offset;
    while (end < limit) {
        auto hole = seek(std::max(end, *data), SEEK_HOLE, size);
        if (!hole) return tl::unexpected(hole.error());
        end = up(*hole);
        if (end >= limit) break;
        data = seek(end, SEEK_DATA, size);
        if (!data) return tl::unexpected(data.error());
        if (down(*data) > end) break;
    }
    return Provisioning{true, std::min(end, limit) - offset};
}

bool is_in_memory(int fd) {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) < 0) return false;
    switch (static_cast<unsigned long>(fs.f_type)) {
        case TMPFS_MAGIC:
        case RAMFS_MAGIC: return true;
        default: return false;
    }
}

Result<void> check_hole_punching(int fd, const std::string& path) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) return fail(errno_message(path, "cannot stat backing file", errno));
    if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st.st_size, 4096) < 0 && errno == EOPNOTSUPP)
        return fail(
            fmt::format("{}: thin provisioning needs a file system that can punch holes "
                        "(fallocate PUNCH_HOLE); this one cannot",
                        path));
    return {};
}

Result<void> check_direct_io(int fd, const std::string& path, std::uint32_t block_size) {
    struct statx stx {};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) != 0 || !(stx.stx_mask & STATX_DIOALIGN))
        return {};  // the kernel does not say: the open with O_DIRECT succeeded, which is all we know
    if (stx.stx_dio_offset_align == 0)
        return fail(fmt::format("{}: the file system cannot do direct I/O (O_DIRECT) on it: use cache=kernel", path));
    if (block_size % stx.stx_dio_offset_align != 0)
        return fail(
            fmt::format("{}: direct I/O needs {}-byte aligned offsets, more than the block size {}: use "
                        "block_size=4096 or cache=kernel",
                        path, stx.stx_dio_offset_align, block_size));
    // BlockPool aligns buffers of a block or more to 512 bytes, of 4 KiB or more to a page.
    const std::uint32_t buffer_align = block_size >= 4096 ? 4096 : 512;
    if (stx.stx_dio_mem_align > buffer_align)
        return fail(
            fmt::format("{}: direct I/O needs buffers aligned to {} bytes, more than a {}-byte block's: "
                        "use block_size=4096 or cache=kernel",
                        path, stx.stx_dio_mem_align, block_size));
    return {};
}

Result<void> check_options(const std::string& what, const Options& options) {
    if (options.block_size != 512 && options.block_size != 4096)
        return fail(fmt::format("{}: block size {} is not supported (512 or 4096)", what, options.block_size));
    if (options.size % options.block_size != 0)
        return fail(
            fmt::format("{}: size {} is not a multiple of the block size {}", what, options.size, options.block_size));
    return {};
}

Result<void> check_resize(const std::string& what, std::uint64_t from, std::uint64_t to, std::uint32_t block_size,
                          bool read_only) {
    const auto invalid = std::make_error_code(std::errc::invalid_argument);
    if (to == 0 || to % block_size != 0)
        return fail(invalid, fmt::format("{}: cannot resize to {} bytes: the size must be a whole number of {}-byte "
                                         "blocks, at least one",
                                         what, to, block_size));
    if (to < from)
        return fail(invalid, fmt::format("{}: cannot shrink from {} to {}: shrinking would discard data", what,
                                         format_exact_size(from), format_exact_size(to)));
    if (to != from && read_only)
        return fail(std::make_error_code(std::errc::read_only_file_system),
                    fmt::format("{}: cannot grow a read-only store", what));
    return {};
}

std::byte* reserve_address_space(const std::string& what, std::uint64_t size, std::uint64_t& reserved) {
    constexpr std::uint64_t kMinReservation = std::uint64_t{64} << 30;
    constexpr std::uint64_t kMaxReservation = std::uint64_t{4} << 40;
    const std::uint64_t room = size > kMaxReservation / 4 ? kMaxReservation : std::max(size * 4, kMinReservation);
    reserved = page_up(std::max(size, std::min(room, kMaxReservation)));
    constexpr int kFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    void* base = ::mmap(nullptr, reserved, PROT_NONE, kFlags, -1, 0);
    if (base == MAP_FAILED) {
        spdlog::info("{}: cannot reserve {} of address space to grow into ({}): the store's mapping cannot grow", what,
                     format_exact_size(reserved), std::strerror(errno));
        reserved = page_up(size);
        base = ::mmap(nullptr, reserved, PROT_NONE, kFlags, -1, 0);
        if (base == MAP_FAILED) return nullptr;
    }
    return static_cast<std::byte*>(base);
}

std::uint64_t page_up(std::uint64_t bytes) {
    static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    return (bytes + page - 1) / page * page;
}

std::string errno_message(const std::string& path, const std::string& what, int err) {
    return fmt::format("{}: {}: {}", path, what, std::strerror(err));
}

}  // namespace iscsikit::backstore
