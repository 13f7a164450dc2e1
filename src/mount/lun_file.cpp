#include "mount/lun_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <asio/redirect_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "initiator/scsi_ops.hpp"

namespace iscsikit::mount {

namespace {

Error errno_error(int code, std::string message) {
    return Error{std::move(message), std::error_code(code, std::generic_category())};
}

tl::unexpected<Error> errno_failure(int code, std::string message) {
    return tl::unexpected<Error>(errno_error(code, std::move(message)));
}

bool overlaps(std::uint64_t first_a, std::uint64_t end_a, std::uint64_t first_b, std::uint64_t end_b) {
    return first_a < end_b && first_b < end_a;
}

}  // namespace

int errno_for(const initiator::Error& error) {
    using initiator::ErrorKind;
    if (error.kind == ErrorKind::invalid_argument) return EINVAL;
    if (error.kind != ErrorKind::scsi_error || !error.sense) return EIO;
    const scsi::Sense& sense = *error.sense;
    // SBC-3 4.7.3.7 / SPC-4 Annex D: 27h/07h SPACE ALLOCATION FAILED WRITE PROTECT.
    if (sense.asc == 0x27 && sense.ascq == 0x07) return ENOSPC;
    if (sense.key == scsi::SenseKey::data_protect) return EROFS;  // 27h/xx WRITE PROTECTED and kin
    if (sense.asc == 0x3a) return ENOMEDIUM;                      // 3Ah MEDIUM NOT PRESENT
    return EIO;
}

// A write's place in the order of overlapping writes, given back on every path out of write().
class LunFile::WriteTurn {
public:
    WriteTurn(LunFile& file, PendingList::iterator self) : file_(file), self_(self) {}
    ~WriteTurn() { file_.finish_turn(self_); }
    WriteTurn(const WriteTurn&) = delete;
    WriteTurn& operator=(const WriteTurn&) = delete;

private:
    LunFile& file_;
    PendingList::iterator self_;
};

LunFile::LunFile(initiator::Session& session, LunGeometry geometry) : session_(session), geometry_(geometry) {}

asio::awaitable<Result<std::unique_ptr<LunFile>>> LunFile::open(initiator::Session& session, std::uint64_t lun) {
    const std::string what = fmt::format("LUN {} of {}", lun, session.url().target);
    auto capacity = co_await initiator::read_capacity(session, lun);
    if (!capacity) co_return fail(fmt::format("{}: {}", what, capacity.error().message));
    if (capacity->block_size == 0 || capacity->block_size > (1u << 20) || capacity->block_size % 512 != 0)
        co_return fail(fmt::format("{}: block size {} is not one the mount can use", what, capacity->block_size));
    LunGeometry g;
    g.lun = lun;
    g.block_size = capacity->block_size;
    g.blocks = capacity->blocks;
    g.thin = capacity->thin;
    g.lbprz = capacity->lbprz;

    // SBC-3 6.5.3: a device without the Block Limits page gives no limits; our own default keeps
    // one command at most a MiB then.
    std::uint64_t max_bytes = kDefaultMaxTransferBytes;
    auto limits = co_await initiator::block_limits(session, lun);
    if (limits) {
        if (limits->max_transfer_blocks != 0)
            max_bytes = std::min<std::uint64_t>(std::uint64_t{limits->max_transfer_blocks} * g.block_size,
                                                std::uint64_t{16} << 20);
        g.optimal_transfer_bytes = static_cast<std::uint32_t>(
            std::min<std::uint64_t>(std::uint64_t{limits->optimal_transfer_blocks} * g.block_size, 16u << 20));
        g.max_unmap_blocks = limits->max_unmap_blocks;
        g.max_unmap_descriptors = limits->max_unmap_descriptors;
    } else {
        spdlog::info("{}: no Block Limits VPD page ({}); commands of at most {} bytes", what, limits.error().message,
                     max_bytes);
    }
    max_bytes = std::max<std::uint64_t>(max_bytes / g.block_size * g.block_size, g.block_size);
    g.max_transfer_bytes = static_cast<std::uint32_t>(max_bytes);

    auto protect = co_await initiator::write_protected(session, lun);
    if (protect) {
        g.write_protected = *protect;
    } else {
        spdlog::info("{}: MODE SENSE(6) failed ({}); taken as writable", what, protect.error().message);
    }
    co_return std::make_unique<LunFile>(session, g);
}

std::string LunFile::name() const {
    return fmt::format("lun{} (LUN {} of {})", geometry_.lun, geometry_.lun, session_.url().target);
}

Error LunFile::failure(const initiator::Error& error) const {
    const int code = errno_for(error);
    spdlog::error("{}: {} ({})", name(), error.message, std::strerror(code));
    return errno_error(code, error.message);
}

asio::awaitable<Result<void>> LunFile::read_blocks(std::uint64_t lba, std::span<std::byte> out) {
    const std::uint32_t bs = geometry_.block_size;
    while (!out.empty()) {
        const std::size_t n = std::min<std::size_t>(out.size(), geometry_.max_transfer_bytes);
        auto done = co_await initiator::read_blocks(session_, geometry_.lun, lba, bs, out.first(n));
        if (!done) co_return tl::unexpected(failure(done.error()));
        out = out.subspan(n);
        lba += n / bs;
    }
    co_return Result<void>{};
}

asio::awaitable<Result<void>> LunFile::write_blocks(std::uint64_t lba, std::span<const std::byte> data, bool fua) {
    const std::uint32_t bs = geometry_.block_size;
    while (!data.empty()) {
        const std::size_t n = std::min<std::size_t>(data.size(), geometry_.max_transfer_bytes);
        auto done = co_await initiator::write_blocks(session_, geometry_.lun, lba, bs, data.first(n), fua);
        if (!done) co_return tl::unexpected(failure(done.error()));
        data = data.subspan(n);
        lba += n / bs;
    }
    co_return Result<void>{};
}

asio::awaitable<Result<std::size_t>> LunFile::read(std::uint64_t offset, std::span<std::byte> out) {
    const std::uint64_t size = this->size();
    if (offset >= size || out.empty()) co_return std::size_t{0};
    const std::size_t length = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size - offset));
    const std::uint32_t bs = geometry_.block_size;
    if (offset % bs == 0 && length % bs == 0) {
        auto done = co_await read_blocks(offset / bs, out.first(length));
        if (!done) co_return tl::unexpected(done.error());
        co_return length;
    }
    // Partial blocks: read every block the range touches, hand back the bytes asked for.
    const std::uint64_t first = offset / bs;
    const std::uint64_t end = (offset + length + bs - 1) / bs;
    std::vector<std::byte> blocks(static_cast<std::size_t>((end - first) * bs));
    auto done = co_await read_blocks(first, blocks);
    if (!done) co_return tl::unexpected(done.error());
    std::memcpy(out.data(), blocks.data() + (offset - first * bs), length);
    co_return length;
}

asio::awaitable<void> LunFile::wait_for_turn(PendingList::iterator self) {
    for (;;) {
        const bool blocked = std::any_of(pending_.begin(), self, [&](const PendingWrite& earlier) {
            return overlaps(earlier.first_block, earlier.end_block, self->first_block, self->end_block);
        });
        if (!blocked) co_return;
        asio::steady_timer wake(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
        self->wake = &wake;
        std::error_code ec;
        co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));  // cancelled: look again
        self->wake = nullptr;
    }
}

void LunFile::finish_turn(PendingList::iterator self) {
    pending_.erase(self);
    for (auto& other : pending_)
        if (other.wake) other.wake->cancel();
}

asio::awaitable<Result<std::size_t>> LunFile::write(std::uint64_t offset, std::span<const std::byte> data, bool fua) {
    const std::uint64_t size = this->size();
    if (data.empty()) co_return std::size_t{0};
    if (offset >= size)
        co_return errno_failure(ENOSPC,
                                fmt::format("{}: write at byte {} is past the end ({} bytes)", name(), offset, size));
    if (geometry_.write_protected) co_return errno_failure(EROFS, fmt::format("{} is write-protected", name()));
    const std::size_t length = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), size - offset));
    const std::uint32_t bs = geometry_.block_size;
    auto self = pending_.insert(pending_.end(), PendingWrite{offset / bs, (offset + length + bs - 1) / bs});
    WriteTurn turn(*this, self);
    co_await wait_for_turn(self);
    auto done = co_await write_bytes(offset, data.first(length), fua);
    if (!done) co_return tl::unexpected(done.error());
    co_return length;
}

asio::awaitable<Result<void>> LunFile::write_bytes(std::uint64_t offset, std::span<const std::byte> data, bool fua) {
    const std::uint32_t bs = geometry_.block_size;
    if (offset % bs == 0 && data.size() % bs == 0) {
        auto done = co_await write_blocks(offset / bs, data, fua);
        co_return done;
    }
    // SBC-3 has no write of part of a block: read the blocks at the edges, merge, write them all.
    const std::uint64_t first = offset / bs;
    const std::uint64_t end = (offset + data.size() + bs - 1) / bs;
    std::vector<std::byte> blocks(static_cast<std::size_t>((end - first) * bs));
    const std::span<std::byte> all(blocks);
    if (offset % bs != 0) {
        auto head = co_await read_blocks(first, all.first(bs));
        if (!head) co_return head;
    }
    if ((offset + data.size()) % bs != 0 && (end - 1 > first || offset % bs == 0)) {
        auto tail = co_await read_blocks(end - 1, all.last(bs));
        if (!tail) co_return tail;
    }
    std::memcpy(blocks.data() + (offset - first * bs), data.data(), data.size());
    auto done = co_await write_blocks(first, all, fua);
    co_return done;
}

asio::awaitable<Result<void>> LunFile::flush() {
    auto done = co_await initiator::synchronize_cache(session_, geometry_.lun);
    if (!done) co_return tl::unexpected(failure(done.error()));
    co_return Result<void>{};
}

asio::awaitable<Result<void>> LunFile::unmap_blocks(std::uint64_t lba, std::uint64_t count) {
    // SBC-3 5.28 and 6.5.3: at most MAXIMUM UNMAP LBA COUNT blocks per descriptor and MAXIMUM
    // UNMAP BLOCK DESCRIPTOR COUNT descriptors per command (0: no limit given).
    const std::uint64_t per_descriptor = geometry_.max_unmap_blocks ? geometry_.max_unmap_blocks : 0xffffffffu;
    const std::size_t per_command =
        std::clamp<std::size_t>(geometry_.max_unmap_descriptors ? geometry_.max_unmap_descriptors : 256, 1, 256);
    std::vector<scsi::build::UnmapRange> ranges;
    while (count > 0) {
        ranges.clear();
        while (count > 0 && ranges.size() < per_command) {
            const auto n = static_cast<std::uint32_t>(std::min(count, per_descriptor));
            ranges.push_back({lba, n});
            lba += n;
            count -= n;
        }
        auto done = co_await initiator::unmap(session_, geometry_.lun, ranges);
        if (!done) co_return tl::unexpected(failure(done.error()));
    }
    co_return Result<void>{};
}

asio::awaitable<Result<void>> LunFile::punch_hole(std::uint64_t offset, std::uint64_t length) {
    if (!geometry_.thin || !geometry_.lbprz)
        co_return errno_failure(EOPNOTSUPP,
                                fmt::format("{} is not thin provisioned with unmapped blocks reading as zeros "
                                            "(LBPME and LBPRZ): holes cannot be punched",
                                            name()));
    if (geometry_.write_protected) co_return errno_failure(EROFS, fmt::format("{} is write-protected", name()));
    const std::uint64_t size = this->size();
    if (offset >= size || length == 0) co_return Result<void>{};
    const std::uint64_t end = offset + std::min(length, size - offset);
    const std::uint32_t bs = geometry_.block_size;
    const std::uint64_t first_whole = (offset + bs - 1) / bs;
    const std::uint64_t end_whole = end / bs;
    auto self = pending_.insert(pending_.end(), PendingWrite{offset / bs, (end + bs - 1) / bs});
    WriteTurn turn(*this, self);
    co_await wait_for_turn(self);
    if (first_whole >= end_whole) {  // inside one block, or two partial ones
        const std::vector<std::byte> zeros(static_cast<std::size_t>(end - offset));
        auto done = co_await write_bytes(offset, zeros, false);
        co_return done;
    }
    if (offset < first_whole * bs) {
        const std::vector<std::byte> zeros(static_cast<std::size_t>(first_whole * bs - offset));
        auto head = co_await write_bytes(offset, zeros, false);
        if (!head) co_return head;
    }
    if (end > end_whole * bs) {
        const std::vector<std::byte> zeros(static_cast<std::size_t>(end - end_whole * bs));
        auto tail = co_await write_bytes(end_whole * bs, zeros, false);
        if (!tail) co_return tail;
    }
    auto done = co_await unmap_blocks(first_whole, end_whole - first_whole);
    co_return done;
}

}  // namespace iscsikit::mount
