// The mode pages this LU implements (SPC-4 §7.5, SBC-3 §6.4) as data: page code, length, default
// bytes and the changeable mask. MODE SENSE and MODE SELECT both read this table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace iscsikit::scsi::detail {

inline constexpr std::size_t kMaxModePageLength = 20;

struct ModePageInfo {
    std::uint8_t code;
    std::uint8_t length;  // whole page, header included
    std::array<std::uint8_t, kMaxModePageLength> defaults;
    std::array<std::uint8_t, kMaxModePageLength> changeable;
};

// In ascending page-code order, the order MODE SENSE returns them for 3Fh.
enum ModePageIndex : std::size_t { kCachingPage = 0, kControlPage = 1, kInformationalExceptionsPage = 2 };
inline constexpr std::size_t kModePageCount = 3;

extern const std::array<ModePageInfo, kModePageCount> kModePages;

// Index into kModePages, or kModePageCount when the page is not implemented.
std::size_t find_mode_page(std::uint8_t code);

// Current values of every page; saved values are the defaults (pages are not savable, PS=0).
struct ModeValues {
    std::array<std::array<std::uint8_t, kMaxModePageLength>, kModePageCount> pages;

    static ModeValues defaults();
    // SBC-3 §6.4.5: WCE in the caching page.
    bool write_cache_enabled() const { return (pages[kCachingPage][2] & 0x04) != 0; }
    // SPC-4 §7.5.7: SWP in the control page.
    bool software_write_protect() const { return (pages[kControlPage][4] & 0x08) != 0; }
};

}  // namespace iscsikit::scsi::detail
