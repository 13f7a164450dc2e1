// A regular file as a backstore. A missing file is created sparse with the requested size; an
// existing file keeps its size (rounded down to whole blocks). Data moves through the IoEngine.
// A thin store needs a file system that punches holes, checked here rather than at the first UNMAP.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "backstore/fd_backstore.hpp"

namespace iscsikit::backstore {
namespace {

Result<int> create_sparse(const std::string& path, const Options& options) {
    if (!options.create) return fail(errno_message(path, "cannot open backing file", ENOENT));
    if (options.read_only)
        return fail(fmt::format("{}: backing file does not exist, and a read-only LUN is not created", path));
    if (options.size == 0) return fail(fmt::format("{}: backing file does not exist; give a size to create it", path));
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return fail(errno_message(path, "cannot create backing file", errno));
    if (::ftruncate(fd, static_cast<off_t>(options.size)) < 0) {
        int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return fail(errno_message(path, fmt::format("cannot size new backing file to {} bytes", options.size), err));
    }
    spdlog::info("{}: created sparse backing file of {} bytes", path, options.size);
    return fd;
}

}  // namespace

Result<std::unique_ptr<Backstore>> open_file(const std::string& path, const Options& options) {
    if (auto ok = check_options(path, options); !ok) return tl::unexpected(ok.error());
    const int direct = options.direct ? O_DIRECT : 0;
    int fd = ::open(path.c_str(), (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | direct);
    if (fd < 0 && errno == EINVAL && direct)
        return fail(
            fmt::format("{}: the file system cannot open it for direct I/O (O_DIRECT): use cache=kernel", path));
    if (fd < 0 && errno != ENOENT) return fail(errno_message(path, "cannot open backing file", errno));
    if (fd < 0) {
        auto created = create_sparse(path, options);
        if (!created) return tl::unexpected(created.error());
        fd = *created;
        if (direct && ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_DIRECT) != 0) {
            const int err = errno;
            ::close(fd);
            return fail(fmt::format("{}: the file system cannot do direct I/O (O_DIRECT): {}: use cache=kernel", path,
                                    std::strerror(err)));
        }
    }

    struct stat st {};
    if (::fstat(fd, &st) < 0) {
        int err = errno;
        ::close(fd);
        return fail(errno_message(path, "cannot stat backing file", err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return fail(fmt::format("{}: not a regular file (use a blockdev LUN for block devices)", path));
    }
    if (options.direct) {
        if (auto ok = check_direct_io(fd, path, options.block_size); !ok) {
            ::close(fd);
            return tl::unexpected(ok.error());
        }
    }
    if (options.thin && !options.read_only) {
        if (auto ok = check_hole_punching(fd, path); !ok) {
            ::close(fd);
            return tl::unexpected(ok.error());
        }
    }
    const auto actual = static_cast<std::uint64_t>(st.st_size);
    const std::uint64_t size = actual - actual % options.block_size;
    if (size < options.block_size) {
        ::close(fd);
        return fail(fmt::format("{}: backing file is {} bytes, smaller than one {}-byte block", path, actual,
                                options.block_size));
    }
    if (size != actual)
        spdlog::warn("{}: size {} is not a multiple of {}; the last {} bytes are not used", path, actual,
                     options.block_size, actual - size);
    if (options.size != 0 && options.size != size)
        spdlog::warn("{}: existing file of {} bytes is used as is (configured size {} ignored)", path, size,
                     options.size);
    if (options.direct)  // cache=none: nothing of it is read from memory, everything from the file
        return std::make_unique<FdBackstore>(fd, "file:" + path, size, options.block_size, options.read_only);
    const bool in_memory = is_in_memory(fd);
    if (in_memory)
        spdlog::info("{}: the file lives in memory (tmpfs): transfers of up to {} KiB are copied on the reactor", path,
                     FdBackstore::kInlineCopyLimit / 1024);
    return std::make_unique<FdBackstore>(
        fd, "file:" + path, size, options.block_size, options.read_only,
        in_memory ? FdBackstore::Mapping::in_memory : FdBackstore::Mapping::page_cache);
}

}  // namespace iscsikit::backstore
