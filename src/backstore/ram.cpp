// A RAM backstore: the blocks live in one zeroed heap allocation (calloc, so large stores get
// lazily zeroed pages from the kernel). Every call completes inline, on the caller's thread.
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "backstore/fd_backstore.hpp"

namespace iscsikit::backstore {
namespace {

struct FreeDeleter {
    void operator()(std::byte* p) const { std::free(p); }
};

class RamBackstore final : public Backstore {
public:
    RamBackstore(std::unique_ptr<std::byte[], FreeDeleter> data, std::uint64_t size, std::uint32_t block_size,
                 bool read_only)
        : data_(std::move(data)), size_(size), block_size_(block_size), read_only_(read_only) {}

    std::string describe() const override { return fmt::format("ram:{}", size_); }
    std::uint64_t size_bytes() const override { return size_; }
    std::uint32_t block_size() const override { return block_size_; }
    bool read_only() const override { return read_only_; }

    void read(std::uint64_t offset, ByteSpan dst, IoEngine&, IoCallback done) override {
        if (!in_range(offset, dst.size())) return done(-EINVAL);
        std::memcpy(dst.data(), data_.get() + offset, dst.size());
        done(static_cast<int>(dst.size()));
    }

    void write(std::uint64_t offset, ConstByteSpan src, bool, IoEngine&, IoCallback done) override {
        if (read_only_) return done(-EROFS);
        if (!in_range(offset, src.size())) return done(-EINVAL);
        std::memcpy(data_.get() + offset, src.data(), src.size());
        done(static_cast<int>(src.size()));  // RAM is as stable as it gets: FUA needs nothing more
    }

    void flush(IoEngine&, IoCallback done) override { done(0); }

private:
    bool in_range(std::uint64_t offset, std::size_t length) const {
        return offset <= size_ && length <= size_ - offset && length <= static_cast<std::size_t>(INT32_MAX);
    }

    std::unique_ptr<std::byte[], FreeDeleter> data_;
    std::uint64_t size_;
    std::uint32_t block_size_;
    bool read_only_;
};

}  // namespace

Result<std::unique_ptr<Backstore>> make_ram(const Options& options) {
    const std::string what = fmt::format("ram:{}", options.size);
    if (auto ok = check_options(what, options); !ok) return tl::unexpected(ok.error());
    if (options.size == 0) return fail(what + ": a RAM store needs a size");
    std::unique_ptr<std::byte[], FreeDeleter> data(static_cast<std::byte*>(std::calloc(options.size, 1)));
    if (!data) return fail(fmt::format("{}: cannot allocate {} bytes", what, options.size));
    return std::make_unique<RamBackstore>(std::move(data), options.size, options.block_size, options.read_only);
}

}  // namespace iscsikit::backstore
