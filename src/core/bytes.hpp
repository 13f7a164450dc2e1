// Big-endian codecs over raw bytes. Wire formats are read and written field by field through these
// helpers, never through packed structs (STYLE.md rule 2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace iscsikit {

using ByteSpan = std::span<std::byte>;
using ConstByteSpan = std::span<const std::byte>;

inline std::uint8_t load_u8(const std::byte* p) { return static_cast<std::uint8_t>(p[0]); }

inline std::uint16_t load_be16(const std::byte* p) {
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) | std::to_integer<unsigned>(p[1]));
}

inline std::uint32_t load_be24(const std::byte* p) {
    return (std::to_integer<std::uint32_t>(p[0]) << 16) | (std::to_integer<std::uint32_t>(p[1]) << 8) |
           std::to_integer<std::uint32_t>(p[2]);
}

inline std::uint32_t load_be32(const std::byte* p) {
    return (std::to_integer<std::uint32_t>(p[0]) << 24) | (std::to_integer<std::uint32_t>(p[1]) << 16) |
           (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
}

inline std::uint64_t load_be48(const std::byte* p) {
    return (std::uint64_t{load_be16(p)} << 32) | load_be32(p + 2);
}

inline std::uint64_t load_be64(const std::byte* p) {
    return (std::uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}

inline void store_u8(std::byte* p, std::uint8_t v) { p[0] = std::byte{v}; }

inline void store_be16(std::byte* p, std::uint16_t v) {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v);
}

inline void store_be24(std::byte* p, std::uint32_t v) {
    p[0] = std::byte(v >> 16);
    p[1] = std::byte(v >> 8);
    p[2] = std::byte(v);
}

inline void store_be32(std::byte* p, std::uint32_t v) {
    p[0] = std::byte(v >> 24);
    p[1] = std::byte(v >> 16);
    p[2] = std::byte(v >> 8);
    p[3] = std::byte(v);
}

inline void store_be48(std::byte* p, std::uint64_t v) {
    store_be16(p, static_cast<std::uint16_t>(v >> 32));
    store_be32(p + 2, static_cast<std::uint32_t>(v));
}

inline void store_be64(std::byte* p, std::uint64_t v) {
    store_be32(p, static_cast<std::uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<std::uint32_t>(v));
}

// Rounds a data segment length up to the 4-byte boundary the wire pads to (RFC 7143 §11.1).
constexpr std::uint32_t pad4(std::uint32_t n) { return (n + 3u) & ~3u; }

}  // namespace iscsikit
