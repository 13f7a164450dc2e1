#include "local_file.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "initiator/format.hpp"

namespace iscsikit::cli {

using initiator::ErrorKind;
using initiator::Result;

namespace {

tl::unexpected<initiator::Error> file_error(const char* what, const std::string& path, int error) {
    return initiator::fail(ErrorKind::invalid_argument,
                           fmt::format("cannot {} {}: {}", what, path, std::strerror(error)));
}

}  // namespace

LocalFile::LocalFile(int fd, std::string path, std::uint64_t size, bool regular)
    : fd_(fd), path_(std::move(path)), size_(size), regular_(regular) {}

LocalFile::LocalFile(LocalFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), size_(other.size_), regular_(other.regular_) {}

LocalFile& LocalFile::operator=(LocalFile&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        path_ = std::move(other.path_);
        size_ = other.size_;
        regular_ = other.regular_;
    }
    return *this;
}

LocalFile::~LocalFile() {
    if (fd_ >= 0) ::close(fd_);
}

Result<LocalFile> LocalFile::open_source(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return file_error("open", path, errno);
    LocalFile file(fd, path, 0, false);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return file_error("stat", path, errno);
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return initiator::fail(ErrorKind::invalid_argument,
                               fmt::format("{} is not a regular file or block device", path));
    file.regular_ = S_ISREG(st.st_mode);
    const off_t end = ::lseek(fd, 0, SEEK_END);  // a block device's st_size is 0
    if (end < 0) return file_error("seek in", path, errno);
    file.size_ = static_cast<std::uint64_t>(end);
    return file;
}

Result<LocalFile> LocalFile::open_destination(const std::string& path, std::uint64_t size) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return file_error("create", path, errno);
    LocalFile file(fd, path, size, false);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return file_error("stat", path, errno);
    file.regular_ = S_ISREG(st.st_mode);
    if (file.regular_) {
        if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return file_error("resize", path, errno);
    } else if (S_ISBLK(st.st_mode)) {
        const off_t end = ::lseek(fd, 0, SEEK_END);
        if (end < 0) return file_error("seek in", path, errno);
        if (static_cast<std::uint64_t>(end) < size)
            return initiator::fail(
                ErrorKind::invalid_argument,
                fmt::format("{} ({}) is smaller than the {} to copy", path,
                            initiator::format_size(static_cast<std::uint64_t>(end)), initiator::format_size(size)));
    }
    return file;
}

Result<void> LocalFile::read(std::uint64_t offset, std::span<std::byte> buffer) const {
    std::size_t done = 0;
    while (done < buffer.size()) {
        const ssize_t n = ::pread(fd_, buffer.data() + done, buffer.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return file_error("read", path_, errno);
        if (n == 0)
            return initiator::fail(ErrorKind::invalid_argument,
                                   fmt::format("cannot read {}: it ended at {} bytes", path_, offset + done));
        done += static_cast<std::size_t>(n);
    }
    return {};
}

Result<void> LocalFile::write(std::uint64_t offset, std::span<const std::byte> data) const {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return file_error("write", path_, errno);
        if (n == 0) return file_error("write", path_, ENOSPC);
        done += static_cast<std::size_t>(n);
    }
    return {};
}

Result<void> LocalFile::sync() const {
    if (::fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) return file_error("sync", path_, errno);
    return {};
}

}  // namespace iscsikit::cli
