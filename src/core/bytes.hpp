// Big-endian codecs over raw bytes. Wire formats are read and written field by field through these
// helpers, never through packed structs (STYLE.md rule 2).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace iscsikit {

using ByteSpan = std::span<std::byte>;
using ConstByteSpan = std::span<const std::byte>;

// Where bytes held in memory also lie in a file (a mapping of it): a transport may send them
// from the file by page reference (sendfile) instead of copying them. fd < 0: nowhere.
struct FileRange {
    int fd = -1;
    std::uint64_t offset = 0;
    explicit operator bool() const { return fd >= 0; }
};

// An octet of a wire buffer: std::byte as core and iscsi/ use, or std::uint8_t, which scsi/ still
// uses for CDBs and parameter data. Both go through these helpers, so there is one big-endian codec.
template <class B>
concept Octet = std::same_as<B, std::byte> || std::same_as<B, std::uint8_t>;

template <Octet B>
constexpr std::uint8_t load_u8(const B* p) {
    return static_cast<std::uint8_t>(p[0]);
}

template <Octet B>
constexpr std::uint16_t load_be16(const B* p) {
    return static_cast<std::uint16_t>((static_cast<unsigned>(p[0]) << 8) | static_cast<unsigned>(p[1]));
}

template <Octet B>
constexpr std::uint32_t load_be24(const B* p) {
    return (static_cast<std::uint32_t>(p[0]) << 16) | (static_cast<std::uint32_t>(p[1]) << 8) |
           static_cast<std::uint32_t>(p[2]);
}

template <Octet B>
constexpr std::uint32_t load_be32(const B* p) {
    return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
           (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]);
}

template <Octet B>
constexpr std::uint64_t load_be48(const B* p) {
    return (std::uint64_t{load_be16(p)} << 32) | load_be32(p + 2);
}

template <Octet B>
constexpr std::uint64_t load_be64(const B* p) {
    return (std::uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}

template <Octet B>
constexpr void store_u8(B* p, std::uint8_t v) {
    p[0] = B(v);
}

template <Octet B>
constexpr void store_be16(B* p, std::uint16_t v) {
    p[0] = B(v >> 8);
    p[1] = B(v & 0xff);
}

template <Octet B>
constexpr void store_be24(B* p, std::uint32_t v) {
    p[0] = B((v >> 16) & 0xff);
    p[1] = B((v >> 8) & 0xff);
    p[2] = B(v & 0xff);
}

template <Octet B>
constexpr void store_be32(B* p, std::uint32_t v) {
    store_be16(p, static_cast<std::uint16_t>(v >> 16));
    store_be16(p + 2, static_cast<std::uint16_t>(v));
}

template <Octet B>
constexpr void store_be48(B* p, std::uint64_t v) {
    store_be16(p, static_cast<std::uint16_t>(v >> 32));
    store_be32(p + 2, static_cast<std::uint32_t>(v));
}

template <Octet B>
constexpr void store_be64(B* p, std::uint64_t v) {
    store_be32(p, static_cast<std::uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<std::uint32_t>(v));
}

// Rounds a data segment length up to the 4-byte boundary the wire pads to (RFC 7143 §11.1).
constexpr std::uint32_t pad4(std::uint32_t n) { return (n + 3u) & ~3u; }

}  // namespace iscsikit
