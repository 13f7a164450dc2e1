// A backstore over a file descriptor, shared by the file and block-device stores: both move their
// blocks through the reactor's IoEngine and differ only in how they are opened and sized.
#pragma once

#include <string>

#include "backstore/backstore.hpp"

namespace iscsikit::backstore {

class FdBackstore final : public Backstore {
public:
    // Takes ownership of `fd`. `description` is what describe() returns ("file:/srv/lun0.img").
    FdBackstore(int fd, std::string description, std::uint64_t size, std::uint32_t block_size, bool read_only);
    ~FdBackstore() override;
    FdBackstore(const FdBackstore&) = delete;
    FdBackstore& operator=(const FdBackstore&) = delete;

    std::string describe() const override { return description_; }
    std::uint64_t size_bytes() const override { return size_; }
    std::uint32_t block_size() const override { return block_size_; }
    bool read_only() const override { return read_only_; }

    void read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) override;
    void write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) override;
    void flush(IoEngine& io, IoCallback done) override;

private:
    bool in_range(std::uint64_t offset, std::size_t length) const;

    int fd_;
    std::string description_;
    std::uint64_t size_;
    std::uint32_t block_size_;
    bool read_only_;
};

// Checks what every store requires of Options: a block size of 512 or 4096, and a size (when
// given) that is a whole number of blocks. `what` names the store in the message.
Result<void> check_options(const std::string& what, const Options& options);

// "PATH: what: strerror(err)", the shape of every open error.
std::string errno_message(const std::string& path, const std::string& what, int err);

}  // namespace iscsikit::backstore
