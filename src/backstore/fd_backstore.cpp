#include "backstore/fd_backstore.hpp"

#include <fcntl.h>
#include <linux/magic.h>
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
    // can write through it. Without it, reads still work through pread.
    void* map = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
    if (map == MAP_FAILED) {
        spdlog::warn("{}: cannot map the file ({}): reads are copied through a buffer", description_,
                     std::strerror(errno));
        return;
    }
    map_ = static_cast<std::byte*>(map);
}

FdBackstore::~FdBackstore() {
    if (map_) ::munmap(map_, size_);
    ::close(fd_);
}

const std::byte* FdBackstore::mapped(std::uint64_t offset, std::uint64_t length) const {
    if (!map_ || !in_range(offset, length)) return nullptr;
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
    if (!map_ || !in_range(offset, length)) return {};
    return {fd_, offset};
}

bool FdBackstore::in_range(std::uint64_t offset, std::uint64_t length) const {
    return offset <= size_ && length <= size_ - offset;
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

tl::expected<std::uint64_t, std::error_code> FdBackstore::seek(std::uint64_t offset, int whence) const {
    const off_t at = ::lseek(fd_, static_cast<off_t>(offset), whence);
    if (at < 0 && errno == ENXIO) return size_;
    if (at < 0) return tl::unexpected(std::error_code(errno, std::generic_category()));
    return std::min(static_cast<std::uint64_t>(at), size_);
}

tl::expected<Backstore::Provisioning, std::error_code> FdBackstore::provisioning(std::uint64_t offset,
                                                                                 std::uint64_t max_length) const {
    if (offset >= size_ || offset % block_size_ != 0)
        return tl::unexpected(std::make_error_code(std::errc::invalid_argument));
    const auto down = [this](std::uint64_t v) { return v - v % block_size_; };
    const auto up = [this, down](std::uint64_t v) { return std::min(down(v + block_size_ - 1), size_); };
    const std::uint64_t wanted = std::max<std::uint64_t>(down(max_length), block_size_);
    const std::uint64_t limit = offset + std::min(wanted, size_ - offset);

    auto data = seek(offset, SEEK_DATA);
    if (!data) return tl::unexpected(data.error());
    if (down(*data) > offset) return Provisioning{false, std::min(down(*data), limit) - offset};
    // The block at `offset` holds data: extend over data extents (and blocks only partly a hole)
    // until a whole block of hole begins.
    std::uint64_t end = offset;
    while (end < limit) {
        auto hole = seek(std::max(end, *data), SEEK_HOLE);
        if (!hole) return tl::unexpected(hole.error());
        end = up(*hole);
        if (end >= limit) break;
        data = seek(end, SEEK_DATA);
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

std::string errno_message(const std::string& path, const std::string& what, int err) {
    return fmt::format("{}: {}: {}", path, what, std::strerror(err));
}

}  // namespace iscsikit::backstore
