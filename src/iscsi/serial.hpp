// Serial number arithmetic for 32-bit sequence numbers (RFC 1982, required by RFC 7143 §4.2.2.1)
// used for CmdSN, ExpCmdSN, MaxCmdSN, StatSN, DataSN and R2TSN.
#pragma once

#include <cstdint>

namespace iscsikit::iscsi {

// s1 < s2 in serial arithmetic. Undefined by RFC 1982 when they differ by exactly 2^31; we answer
// false both ways there, which callers treat as "not in window".
constexpr bool serial_lt(std::uint32_t s1, std::uint32_t s2) {
    return s1 != s2 && ((s1 < s2 && s2 - s1 < 0x80000000u) || (s1 > s2 && s1 - s2 > 0x80000000u));
}
constexpr bool serial_gt(std::uint32_t s1, std::uint32_t s2) { return serial_lt(s2, s1); }
constexpr bool serial_le(std::uint32_t s1, std::uint32_t s2) { return s1 == s2 || serial_lt(s1, s2); }
constexpr bool serial_ge(std::uint32_t s1, std::uint32_t s2) { return s1 == s2 || serial_gt(s1, s2); }
// lo <= s <= hi in serial arithmetic (the CmdSN window check, RFC 7143 §4.2.2.1).
constexpr bool serial_in_window(std::uint32_t s, std::uint32_t lo, std::uint32_t hi) {
    return serial_le(lo, s) && serial_le(s, hi);
}

}  // namespace iscsikit::iscsi
