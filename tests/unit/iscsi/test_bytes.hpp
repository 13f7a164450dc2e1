// Helpers for the iscsi unit tests: bytes from hex text, text from bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace iscsikit::iscsi::testing {

// "01 c0 00 00" (spaces ignored) -> bytes.
inline std::vector<std::byte> hex(std::string_view text) {
    std::vector<std::byte> out;
    int high = -1;
    for (char c : text) {
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            continue;
        if (high < 0) {
            high = v;
        } else {
            out.push_back(std::byte(high << 4 | v));
            high = -1;
        }
    }
    return out;
}

// Raw bytes of a string, embedded NULs included: bytes_of(std::string("a=b\0", 4)).
inline std::vector<std::byte> bytes_of(std::string_view s) {
    std::vector<std::byte> out;
    for (char c : s) out.push_back(static_cast<std::byte>(c));
    return out;
}

}  // namespace iscsikit::iscsi::testing
