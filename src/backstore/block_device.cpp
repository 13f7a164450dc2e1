// A block device as a backstore. Its size and logical block size come from the kernel
// (BLKGETSIZE64, BLKSSZGET); the LUN's block size may be larger than the device's, never smaller,
// since the device cannot write less than one of its own blocks.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "backstore/fd_backstore.hpp"

namespace iscsikit::backstore {

Result<std::unique_ptr<Backstore>> open_block_device(const std::string& path, const Options& options) {
    // options.size is not consulted: a device's size is what the kernel says it is.
    if (auto ok = check_options(path, Options{.block_size = options.block_size}); !ok)
        return tl::unexpected(ok.error());
    const int direct = options.direct ? O_DIRECT : 0;
    int fd = ::open(path.c_str(), (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | direct);
    if (fd < 0) return fail(errno_message(path, "cannot open block device", errno));
    auto close_and_fail = [&](std::string message) {
        ::close(fd);
        return fail(std::move(message));
    };

    struct stat st {};
    if (::fstat(fd, &st) < 0) return close_and_fail(errno_message(path, "cannot stat block device", errno));
    if (!S_ISBLK(st.st_mode)) return close_and_fail(fmt::format("{}: not a block device (use a file LUN)", path));

    std::uint64_t bytes = 0;
    if (::ioctl(fd, BLKGETSIZE64, &bytes) < 0) return close_and_fail(errno_message(path, "BLKGETSIZE64 failed", errno));
    int logical_block = 0;
    if (::ioctl(fd, BLKSSZGET, &logical_block) < 0)
        return close_and_fail(errno_message(path, "BLKSSZGET failed", errno));
    if (logical_block <= 0 || options.block_size < static_cast<std::uint32_t>(logical_block) ||
        options.block_size % static_cast<std::uint32_t>(logical_block) != 0)
        return close_and_fail(fmt::format("{}: block size {} is smaller than the device's logical block size {}", path,
                                          options.block_size, logical_block));

    if (options.direct) {
        if (auto ok = check_direct_io(fd, path, options.block_size); !ok) return close_and_fail(ok.error().message);
    }
    const std::uint64_t size = bytes - bytes % options.block_size;
    if (size < options.block_size)
        return close_and_fail(
            fmt::format("{}: device is {} bytes, smaller than one {}-byte block", path, bytes, options.block_size));
    return std::make_unique<FdBackstore>(fd, "blockdev:" + path, size, options.block_size, options.read_only);
}

}  // namespace iscsikit::backstore
