// The local side of iscsikit cp: a regular file or a block device, read and written with
// pread/pwrite at chunk offsets (several chunks in flight), errors as values naming the path.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "initiator/error.hpp"

namespace iscsikit::cli {

class LocalFile {
public:
    // A file to copy from: its size is what gets copied.
    static initiator::Result<LocalFile> open_source(const std::string& path);
    // A file to copy into, created or truncated; a regular file is then sized to `size` (its
    // unwritten ranges read as zeroes: holes), a block device must hold `size` bytes.
    static initiator::Result<LocalFile> open_destination(const std::string& path, std::uint64_t size);

    LocalFile(LocalFile&& other) noexcept;
    LocalFile& operator=(LocalFile&& other) noexcept;
    LocalFile(const LocalFile&) = delete;
    LocalFile& operator=(const LocalFile&) = delete;
    ~LocalFile();

    // All of `buffer` from `offset` (an end of file before that is an error).
    initiator::Result<void> read(std::uint64_t offset, std::span<std::byte> buffer) const;
    initiator::Result<void> write(std::uint64_t offset, std::span<const std::byte> data) const;
    // fsync; a device that cannot sync (/dev/null) is not an error.
    initiator::Result<void> sync() const;

    const std::string& path() const { return path_; }
    std::uint64_t size() const { return size_; }
    // Holes are possible (a regular file): skipped zero chunks read back as zeroes.
    bool regular() const { return regular_; }

private:
    LocalFile(int fd, std::string path, std::uint64_t size, bool regular);

    int fd_ = -1;
    std::string path_;
    std::uint64_t size_ = 0;
    bool regular_ = false;
};

}  // namespace iscsikit::cli
