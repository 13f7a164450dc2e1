// Byte counts as people write them, the one syntax the daemon's configuration and the iscsikit
// tool both accept: "512", "4k", "4KiB", "16M", "1GB", "2t". Binary units (IEC 80000-13).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace iscsikit {

// Digits, then optionally a power of 1024 (k, m, g, t, p or e, either case) that may be followed
// by "b"/"B" or "ib"/"iB"; or digits and a bare "b"/"B". No sign, spaces or fractions. The error
// is the reason alone (callers quote the text): not a size, an unknown suffix, beyond 64 bits.
Result<std::uint64_t> parse_size(std::string_view text);

// The inverse of parse_size in its shortest exact form: "1G", "64K", "3E"; plain bytes ("1536",
// "0") when no suffix is exact.
std::string format_exact_size(std::uint64_t bytes);

}  // namespace iscsikit
