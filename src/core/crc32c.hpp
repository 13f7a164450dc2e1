// CRC32C (Castagnoli) as iSCSI header and data digests use it (RFC 7143 §11.1, RFC 3720 B.4),
// computed by isa-l's crc32_iscsi.
#pragma once

#include <cstdint>
#include <span>

#include "core/bytes.hpp"

namespace iscsikit {

// Running CRC over several pieces: crc32c_update(crc32c_update(kCrc32cInit, a), b), then
// crc32c_finish. crc32c(x) is the whole thing for one piece. The value is what the wire carries,
// stored little-endian by store_digest().
inline constexpr std::uint32_t kCrc32cInit = 0xffffffffu;
std::uint32_t crc32c_update(std::uint32_t running, ConstByteSpan bytes);
inline std::uint32_t crc32c_finish(std::uint32_t running) { return running ^ 0xffffffffu; }
inline std::uint32_t crc32c(ConstByteSpan bytes) { return crc32c_finish(crc32c_update(kCrc32cInit, bytes)); }

// The digest goes on the wire least-significant byte first (RFC 3720 B.4 vectors show it so).
inline void store_digest(std::byte* p, std::uint32_t crc) {
    p[0] = std::byte(crc);
    p[1] = std::byte(crc >> 8);
    p[2] = std::byte(crc >> 16);
    p[3] = std::byte(crc >> 24);
}
inline std::uint32_t load_digest(const std::byte* p) {
    return std::to_integer<std::uint32_t>(p[0]) | (std::to_integer<std::uint32_t>(p[1]) << 8) |
           (std::to_integer<std::uint32_t>(p[2]) << 16) | (std::to_integer<std::uint32_t>(p[3]) << 24);
}

}  // namespace iscsikit
