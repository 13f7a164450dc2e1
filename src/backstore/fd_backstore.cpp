#include "backstore/fd_backstore.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace iscsikit::backstore {

FdBackstore::FdBackstore(int fd, std::string description, std::uint64_t size, std::uint32_t block_size, bool read_only)
    : fd_(fd), description_(std::move(description)), size_(size), block_size_(block_size), read_only_(read_only) {}

FdBackstore::~FdBackstore() { ::close(fd_); }

bool FdBackstore::in_range(std::uint64_t offset, std::size_t length) const {
    return offset <= size_ && length <= size_ - offset;
}

void FdBackstore::read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) {
    if (!in_range(offset, dst.size())) return done(-EINVAL);
    io.read(fd_, offset, dst, std::move(done));
}

void FdBackstore::write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) {
    if (read_only_) return done(-EROFS);
    if (!in_range(offset, src.size())) return done(-EINVAL);
    if (!fua) return io.write(fd_, offset, src, std::move(done));
    // FUA: the status may only go out once the data is stable, so chain an fdatasync.
    io.write(fd_, offset, src, [this, &io, done = std::move(done)](int res) mutable {
        if (res < 0) return done(res);
        io.fsync(fd_, true, [res, done = std::move(done)](int synced) { done(synced < 0 ? synced : res); });
    });
}

void FdBackstore::flush(IoEngine& io, IoCallback done) {
    if (read_only_) return done(0);  // nothing of ours can be dirty
    io.fsync(fd_, true, std::move(done));
}

Result<void> check_options(const std::string& what, const Options& options) {
    if (options.block_size != 512 && options.block_size != 4096)
        return fail(fmt::format("{}: block size {} is not supported (512 or 4096)", what, options.block_size));
    if (options.size % options.block_size != 0)
        return fail(fmt::format("{}: size {} is not a multiple of the block size {}", what, options.size,
                                options.block_size));
    return {};
}

std::string errno_message(const std::string& path, const std::string& what, int err) {
    return fmt::format("{}: {}: {}", path, what, std::strerror(err));
}

}  // namespace iscsikit::backstore
