// What every store gets unless it knows better: no unmap, every block mapped, and a size fixed
// for its life.
#include "backstore/backstore.hpp"

#include <algorithm>
#include <atomic>
#include <system_error>

#include <fmt/format.h>

namespace iscsikit::backstore {

void Backstore::readv(std::uint64_t offset, std::span<iovec> pieces, IoEngine& io, IoCallback done) {
    if (pieces.empty()) return done({});
    if (pieces.size() == 1)
        return read(offset, ByteSpan(static_cast<std::byte*>(pieces[0].iov_base), pieces[0].iov_len), io,
                    std::move(done));
    struct Gather {
        std::atomic<std::size_t> left;
        std::atomic<int> error{0};
        IoCallback done;
    };
    auto* gather = new Gather{pieces.size(), 0, std::move(done)};
    for (std::size_t i = 0, count = pieces.size(); i < count; ++i) {
        const iovec piece = pieces[i];  // a copy: the last read's completion may free `pieces`
        const std::uint64_t at = offset;
        offset += piece.iov_len;
        read(at, ByteSpan(static_cast<std::byte*>(piece.iov_base), piece.iov_len), io, [gather](std::error_code ec) {
            if (ec) gather->error.store(ec.value(), std::memory_order_relaxed);
            if (gather->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
            const int error = gather->error.load(std::memory_order_relaxed);
            auto finished = std::move(gather->done);
            delete gather;
            finished(error ? std::error_code(error, std::generic_category()) : std::error_code{});
        });
    }
}

Result<void> Backstore::resize(std::uint64_t new_size_bytes) {
    if (new_size_bytes == size_bytes()) return {};
    return fail(std::make_error_code(std::errc::operation_not_supported),
                fmt::format("{}: this store cannot be resized", describe()));
}

void Backstore::unmap(std::uint64_t, std::uint64_t, IoEngine&, IoCallback done) {
    done(std::make_error_code(std::errc::operation_not_supported));
}

tl::expected<Backstore::Provisioning, std::error_code> Backstore::provisioning(std::uint64_t offset,
                                                                               std::uint64_t max_length) const {
    const std::uint64_t size = size_bytes();
    const std::uint32_t block = block_size();
    if (offset >= size || offset % block != 0) return tl::unexpected(std::make_error_code(std::errc::invalid_argument));
    const std::uint64_t wanted = std::max<std::uint64_t>(max_length - max_length % block, block);
    return Provisioning{true, std::min(wanted, size - offset)};
}

}  // namespace iscsikit::backstore
