// A RAM backstore: the blocks live in one private anonymous mapping, so the kernel hands out
// zeroed pages lazily and takes them back on unmap (MADV_DONTNEED). Every call completes inline,
// on the caller's thread.
//
// The mapping sits at the start of a larger reservation of address space (PROT_NONE, no memory,
// no commit charge), into which resize grows it in place: transfers hold pointers into the data
// (mapped), so it can never move. The used part is mapped exactly as a store of that size always
// was (read-write, committed, pages only when touched).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "backstore/fd_backstore.hpp"
#include "core/size.hpp"

namespace iscsikit::backstore {
namespace {

// [at, at + length) of the reservation becomes ordinary anonymous memory, as mmap makes it.
bool map_data(std::byte* at, std::uint64_t length) {
    return length == 0 ||
           ::mmap(at, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED;
}

class RamBackstore final : public Backstore {
public:
    // `data`: the start of `reserved` bytes of address space, of which the first `size` are mapped.
    RamBackstore(std::byte* data, std::uint64_t reserved, std::uint64_t size, std::uint32_t block_size, bool read_only)
        : data_(data), reserved_(reserved), size_(size), block_size_(block_size), read_only_(read_only) {}
    ~RamBackstore() override { ::munmap(data_, reserved_); }  // the whole reservation, used or not
    RamBackstore(const RamBackstore&) = delete;
    RamBackstore& operator=(const RamBackstore&) = delete;

    std::string describe() const override { return fmt::format("ram:{}", size_bytes()); }
    std::uint64_t size_bytes() const override { return size_.load(std::memory_order_acquire); }
    std::uint32_t block_size() const override { return block_size_; }
    bool read_only() const override { return read_only_; }

    Result<void> resize(std::uint64_t new_size) override {
        std::lock_guard lock(resize_mutex_);
        const std::uint64_t old_size = size_.load(std::memory_order_relaxed);
        const std::string what = describe();
        if (auto ok = check_resize(what, old_size, new_size, block_size_, read_only_); !ok || new_size == old_size)
            return ok;
        if (new_size > reserved_)
            return fail(std::make_error_code(std::errc::not_enough_memory),
                        fmt::format("{}: cannot grow to {}: a RAM store grows only within the address space it "
                                    "reserved when made ({}), since its data cannot move; make a new LUN of the "
                                    "size wanted",
                                    what, format_exact_size(new_size), format_exact_size(reserved_)));
        // The bytes between the old end and its page's end are mapped already, and zero: nothing
        // ever writes past the end.
        const std::uint64_t from = page_up(old_size);
        if (!map_data(data_ + from, page_up(new_size) - from)) {
            const int err = errno;
            return fail(
                std::error_code(err, std::generic_category()),
                fmt::format("{}: cannot grow to {}: {}", what, format_exact_size(new_size), std::strerror(err)));
        }
        size_.store(new_size, std::memory_order_release);  // after the pages are there
        spdlog::info("{}: grown from {} to {} bytes", what, old_size, new_size);
        return {};
    }

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
        const std::uint64_t size = size_.load(std::memory_order_acquire);
        if (offset > size || length > size - offset) return done(std::make_error_code(std::errc::invalid_argument));
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
    // One load of the size per check: a resize in between cannot make two loads disagree.
    bool in_range(std::uint64_t offset, std::uint64_t length) const {
        const std::uint64_t size = size_.load(std::memory_order_acquire);
        return offset <= size && length <= size - offset && length <= static_cast<std::uint64_t>(INT32_MAX);
    }

    std::byte* const data_;
    const std::uint64_t reserved_;
    // Read on every command by other threads (LuState::block_count); stored (release) by resize
    // once the pages are mapped.
    std::atomic<std::uint64_t> size_;
    std::uint32_t block_size_;
    bool read_only_;
    std::mutex resize_mutex_;  // one resize at a time
};

}  // namespace

Result<std::unique_ptr<Backstore>> make_ram(const Options& options) {
    const std::string what = fmt::format("ram:{}", options.size);
    if (auto ok = check_options(what, options); !ok) return tl::unexpected(ok.error());
    if (options.size == 0) return fail(what + ": a RAM store needs a size");
    std::uint64_t reserved = 0;
    std::byte* data = reserve_address_space(what, options.size, reserved);
    if (!data) return fail(fmt::format("{}: cannot allocate {} bytes", what, options.size));
    // What calloc does for a large block: zero pages on first touch, memory used as blocks are written.
    if (!map_data(data, page_up(options.size))) {
        ::munmap(data, reserved);
        return fail(fmt::format("{}: cannot allocate {} bytes", what, options.size));
    }
    return std::make_unique<RamBackstore>(data, reserved, options.size, options.block_size, options.read_only);
}

}  // namespace iscsikit::backstore
