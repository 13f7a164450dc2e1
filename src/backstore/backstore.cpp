// What every store gets unless it knows better: no unmap, and every block mapped.
#include "backstore/backstore.hpp"

#include <algorithm>
#include <system_error>

namespace iscsikit::backstore {

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
