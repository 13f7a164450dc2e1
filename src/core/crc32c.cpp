#include "core/crc32c.hpp"

#include <isa-l/crc.h>

namespace iscsikit {

std::uint32_t crc32c_update(std::uint32_t running, ConstByteSpan bytes) {
    // crc32_iscsi neither pre- nor post-inverts: the caller seeds with ~0 and inverts at the end.
    auto* p = const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(bytes.data()));
    return crc32_iscsi(p, static_cast<int>(bytes.size()), running);
}

}  // namespace iscsikit
