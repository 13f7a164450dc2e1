// A RAM backstore: the blocks live in one private anonymous mapping, so the kernel hands out
// zeroed pages lazily and takes them back on unmap (MADV_DONTNEED). Every call completes inline,
// on the caller's thread.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <cstring>

#include <fmt/format.h>

#include "backstore/fd_backstore.hpp"

namespace iscsikit::backstore {
namespace {

class RamBackstore final : public Backstore {
public:
    RamBackstore(std::byte* data, std::uint64_t size, std::uint32_t block_size, bool read_only)
        : data_(data), size_(size), block_size_(block_size), read_only_(read_only) {}
    ~RamBackstore() override { ::munmap(data_, size_); }
    RamBackstore(const RamBackstore&) = delete;
    RamBackstore& operator=(const RamBackstore&) = delete;

    std::string describe() const override { return fmt::format("ram:{}", size_); }
    std::uint64_t size_bytes() const override { return size_; }
    std::uint32_t block_size() const override { return block_size_; }
    bool read_only() const override { return read_only_; }

    void read(std::uint64_t offset, ByteSpan dst, IoEngine&, IoCallback done) override {
        if (!in_range(offset, dst.size())) return done(std::make_error_code(std::errc::invalid_argument));
        std::memcpy(dst.data(), data_ + offset, dst.size());
        done(std::error_code{});
    }

    const std::byte* mapped(std::uint64_t offset, std::uint64_t length) const override {
        return in_range(offset, length) ? data_ + offset : nullptr;
    }

    void write(std::uint64_t offset, ConstByteSpan src, bool, IoEngine&, IoCallback done) override {
        if (read_only_) return done(std::make_error_code(std::errc::read_only_file_system));
        if (!in_range(offset, src.size())) return done(std::make_error_code(std::errc::invalid_argument));
        std::memcpy(data_ + offset, src.data(), src.size());
        done(std::error_code{});  // RAM is as stable as it gets: FUA needs nothing more
    }

    void flush(IoEngine&, IoCallback done) override { done(std::error_code{}); }

    // Whole pages go back to the kernel (they read as zeros again); the partial pages at either
    // end are zeroed. Provisioning keeps the default, everything mapped: residency (mincore) would
    // also count pages that are merely swapped out as unmapped.
    void unmap(std::uint64_t offset, std::uint64_t length, IoEngine&, IoCallback done) override {
        if (read_only_) return done(std::make_error_code(std::errc::read_only_file_system));
        if (offset > size_ || length > size_ - offset) return done(std::make_error_code(std::errc::invalid_argument));
        const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
        const std::uint64_t end = offset + length;
        const std::uint64_t first_page = std::min((offset + page - 1) / page * page, end);
        const std::uint64_t last_page = std::max(end / page * page, first_page);
        std::memset(data_ + offset, 0, first_page - offset);
        if (last_page > first_page && ::madvise(data_ + first_page, last_page - first_page, MADV_DONTNEED) < 0)
            std::memset(data_ + first_page, 0, last_page - first_page);
        std::memset(data_ + last_page, 0, end - last_page);
        done(std::error_code{});
    }

private:
    bool in_range(std::uint64_t offset, std::size_t length) const {
        return offset <= size_ && length <= size_ - offset && length <= static_cast<std::size_t>(INT32_MAX);
    }

    std::byte* data_;
    std::uint64_t size_;
    std::uint32_t block_size_;
    bool read_only_;
};

}  // namespace

Result<std::unique_ptr<Backstore>> make_ram(const Options& options) {
    const std::string what = fmt::format("ram:{}", options.size);
    if (auto ok = check_options(what, options); !ok) return tl::unexpected(ok.error());
    if (options.size == 0) return fail(what + ": a RAM store needs a size");
    // What calloc does for a large block: zero pages on first touch, memory used as blocks are written.
    void* data = ::mmap(nullptr, options.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) return fail(fmt::format("{}: cannot allocate {} bytes", what, options.size));
    return std::make_unique<RamBackstore>(static_cast<std::byte*>(data), options.size, options.block_size,
                                          options.read_only);
}

}  // namespace iscsikit::backstore
