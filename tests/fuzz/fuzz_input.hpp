// What the structured fuzzers share: an invariant check that libFuzzer reports as a crash, and a
// reader that turns the input into fields (zeros, or a pattern, once the input ends).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

namespace iscsikit::fuzz {

// Reports the failed invariant's line before aborting, so a CI log names what broke.
// (clang 14 with libstdc++ 12 has no std::source_location; its builtins do the same.)
inline void check(bool ok, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    if (ok) return;
    std::fprintf(stderr, "fuzz invariant failed at %s:%u\n", file, line);
    std::abort();
}

class Input {
public:
    Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    bool empty() const { return pos_ >= size_; }
    std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
    std::uint16_t u16() { return static_cast<std::uint16_t>((u8() << 8) | u8()); }
    std::uint32_t u32() { return (std::uint32_t{u16()} << 16) | u16(); }
    // Up to `n` bytes, fewer when the input ends.
    std::span<const std::uint8_t> take(std::size_t n) {
        n = std::min(n, size_ - std::min(pos_, size_));
        std::span<const std::uint8_t> out(data_ + pos_, n);
        pos_ += n;
        return out;
    }
    // `n` bytes: the input's next ones, then a pattern once it ends.
    std::vector<std::byte> bytes(std::size_t n) {
        std::vector<std::byte> out(n);
        for (std::size_t i = 0; i < n; ++i) out[i] = std::byte(pos_ < size_ ? data_[pos_++] : i * 7);
        return out;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

}  // namespace iscsikit::fuzz
