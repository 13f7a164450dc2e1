// MODE SENSE(6/10) and MODE SELECT(6/10) (SPC-4 §6.11-6.14) over the pages in kModePages:
// caching (SBC-3 §6.4.5), control (SPC-4 §7.5.7) and informational exceptions (SPC-4 §7.5.10).
#include <algorithm>
#include <bit>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {

// clang-format off
const std::array<ModePageInfo, kModePageCount> kModePages{{
    // Caching: WCE set (write-back cache on); only WCE may change.
    {0x08, 20,
     {0x08, 0x12, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
     {0x08, 0x12, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
    // Control: QUEUE ALGORITHM MODIFIER 1 (unrestricted reordering), BUSY TIMEOUT PERIOD FFFFh
    // (unlimited); only SWP may change.
    {0x0a, 12,
     {0x0a, 0x0a, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00},
     {0x0a, 0x0a, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
    // Informational exceptions control: DEXCPT set (no exceptions are reported); nothing changes.
    {0x1c, 12,
     {0x1c, 0x0a, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
     {0x1c, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
}};
// clang-format on

std::size_t find_mode_page(std::uint8_t code) {
    for (std::size_t i = 0; i < kModePageCount; ++i)
        if (kModePages[i].code == code) return i;
    return kModePageCount;
}

ModeValues ModeValues::defaults() {
    ModeValues v{};
    for (std::size_t i = 0; i < kModePageCount; ++i) v.pages[i] = kModePages[i].defaults;
    return v;
}

void LuState::apply_mode_locked(const ModeValues& values) {
    mode = values;
    write_cache.store(values.write_cache_enabled(), std::memory_order_relaxed);
    software_write_protect.store(values.software_write_protect(), std::memory_order_relaxed);
}

namespace {

enum PageControl : std::uint8_t { kCurrent = 0, kChangeable = 1, kDefault = 2, kSaved = 3 };

// Bytes of one page as the page control asks for them.
const std::uint8_t* page_bytes(const ModeValues& current, std::size_t index, std::uint8_t pc) {
    switch (pc) {
        case kChangeable: return kModePages[index].changeable.data();
        case kDefault: return kModePages[index].defaults.data();
        default: return current.pages[index].data();
    }
}

}  // namespace

Flow mode_sense(LuState& lu, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    const bool ten = c[0] == 0x5a;
    const bool dbd = c[1] & 0x08;
    const bool llbaa = ten && (c[1] & 0x10);
    const std::uint8_t pc = c[2] >> 6;
    const std::uint8_t page = c[2] & 0x3f;
    const std::uint8_t subpage = c[3];
    const std::uint32_t allocation = ten ? load_be16(&c[7]) : c[4];

    // SPC-4 §6.11.2: pages are not savable, so saved values cannot be reported.
    if (pc == kSaved) return fail(cmd, Sense::saving_parameters_not_supported());
    // We implement no subpages: 00h selects the page, FFh "the page and all its subpages".
    if (subpage != 0x00 && subpage != 0xff) return fail(cmd, Sense::invalid_field_in_cdb(3, 7));
    std::size_t first = 0, last = kModePageCount;
    if (page != 0x3f) {
        first = find_mode_page(page);
        if (first == kModePageCount) return fail(cmd, Sense::invalid_field_in_cdb(2, 5));
        last = first + 1;
    }

    ModeValues current;
    {
        std::lock_guard lock(lu.mutex);
        current = lu.mode;
    }

    const std::size_t header = ten ? 8 : 4;
    const std::size_t descriptor = dbd ? 0 : (llbaa ? 16 : 8);
    std::size_t total = header + descriptor;
    for (std::size_t i = first; i < last; ++i) total += kModePages[i].length;

    std::uint8_t* out = begin_data_in(cmd, total);
    // SBC-3 §6.4.2: DEVICE-SPECIFIC PARAMETER with WP and DPOFUA (we accept DPO and FUA).
    const std::uint8_t device_specific = static_cast<std::uint8_t>(
        (cmd.read_only || lu.store.read_only() || current.software_write_protect() ? 0x80 : 0x00) | 0x10);
    if (ten) {
        store_be16(out, static_cast<std::uint16_t>(total - 2));
        out[3] = device_specific;
        out[4] = llbaa && !dbd ? 0x01 : 0x00;  // LONGLBA
        store_be16(out + 6, static_cast<std::uint16_t>(descriptor));
    } else {
        out[0] = static_cast<std::uint8_t>(total - 1);
        out[2] = device_specific;
        out[3] = static_cast<std::uint8_t>(descriptor);
    }
    std::uint8_t* p = out + header;
    const std::uint64_t blocks = lu.block_count();
    if (descriptor == 8) {
        // SBC-3 §6.4.4.2: short LBA block descriptor; FFFFFFFFh when the count does not fit.
        store_be32(p, blocks > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(blocks));
        store_be32(p + 4, lu.block_size & 0x00ffffffu);
    } else if (descriptor == 16) {
        store_be64(p, blocks);  // SBC-3 §6.4.4.3: long LBA block descriptor
        store_be32(p + 12, lu.block_size);
    }
    p += descriptor;
    for (std::size_t i = first; i < last; ++i) {
        std::copy_n(page_bytes(current, i, pc), kModePages[i].length, p);
        p[0] = kModePages[i].code;  // PS 0: not savable
        p[1] = static_cast<std::uint8_t>(kModePages[i].length - 2);
        p += kModePages[i].length;
    }
    return end_data_in(cmd, total, allocation);
}

namespace {

// Checks a MODE SELECT parameter list against `current` and builds the new values in `next`.
std::optional<Sense> parse_mode_parameters(const LuState& lu, const std::uint8_t* data, std::size_t length, bool ten,
                                           const ModeValues& current, ModeValues& next) {
    const std::size_t header = ten ? 8 : 4;
    if (length < header) return Sense::parameter_list_length_error();
    const std::size_t medium_type_at = ten ? 2 : 1;
    if (data[medium_type_at] != 0)
        return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(medium_type_at));
    const bool long_lba = ten && (data[4] & 0x01);
    const std::size_t descriptor = ten ? load_be16(data + 6) : data[3];
    const std::size_t descriptor_at = ten ? 6 : 3;
    if (descriptor != 0 && descriptor != (long_lba ? 16u : 8u))
        return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(descriptor_at));
    if (header + descriptor > length) return Sense::parameter_list_length_error();
    if (descriptor != 0) {
        // SBC-3 §6.4.4: the block length cannot change, nor can the capacity grow.
        const std::uint8_t* d = data + header;
        const std::uint64_t blocks = long_lba ? load_be64(d) : load_be32(d);
        const std::size_t length_at = long_lba ? 12 : 4;
        const std::uint32_t block_length = long_lba ? load_be32(d + 12) : load_be24(d + 5);
        if (block_length != lu.block_size)
            return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(header + length_at));
        if (blocks > lu.block_count() && !(blocks == 0xffffffffu && !long_lba))
            return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(header));
    }
    next = current;
    for (std::size_t pos = header + descriptor; pos < length;) {
        if (pos + 2 > length) return Sense::parameter_list_length_error();
        const auto at = static_cast<std::uint16_t>(pos);
        // SPC-4 §7.5.2: SPF selects the sub_page format; we have no subpages.
        if (data[pos] & 0x40) return Sense::invalid_field_in_parameter_list(at, 6);
        const std::size_t index = find_mode_page(data[pos] & 0x3f);
        if (index == kModePageCount) return Sense::invalid_field_in_parameter_list(at, 5);
        const ModePageInfo& info = kModePages[index];
        if (data[pos + 1] != info.length - 2)
            return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(at + 1));
        if (pos + info.length > length) return Sense::parameter_list_length_error();
        for (std::size_t i = 2; i < info.length; ++i) {
            // SPC-4 §6.13: a bit that is not changeable must keep its current value.
            const auto diff =
                static_cast<std::uint8_t>((data[pos + i] ^ current.pages[index][i]) & ~info.changeable[i]);
            if (diff != 0)
                return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(pos + i),
                                                              static_cast<std::uint8_t>(std::bit_width(diff) - 1));
            next.pages[index][i] = data[pos + i];
        }
        pos += info.length;
    }
    return std::nullopt;
}

}  // namespace

Flow mode_select(LuState& lu, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    const bool ten = c[0] == 0x55;
    const std::size_t length = ten ? load_be16(&c[7]) : c[4];
    // SPC-4 §6.13: saving pages is not supported.
    if (c[1] & 0x01) return fail(cmd, Sense::invalid_field_in_cdb(1, 0));
    if (length == 0) return good(cmd);
    // PF 0 would mean vendor-specific pages; we only take the SPC page format.
    if (!(c[1] & 0x10)) return fail(cmd, Sense::invalid_field_in_cdb(1, 4));
    // Fewer bytes than the PARAMETER LIST LENGTH: parse what came; a cut page is a length error.
    const std::size_t have = std::min(length, cmd.buffer.size());
    const auto* data = reinterpret_cast<const std::uint8_t*>(cmd.buffer.data());

    bool changed = false;
    {
        std::lock_guard lock(lu.mutex);
        ModeValues next;
        if (auto error = parse_mode_parameters(lu, data, have, ten, lu.mode, next)) return fail(cmd, *error);
        changed = next.pages != lu.mode.pages;
        if (changed) {
            lu.apply_mode_locked(next);
            // SPC-4 §7.5.1: other nexuses learn of the change through MODE PARAMETERS CHANGED.
            for (auto& [nexus, state] : lu.nexuses)
                if (nexus != cmd.nexus) lu.queue_ua_locked(state, 0x2a, 0x01);
            lu.update_quiet_locked();
        }
    }
    cmd.buffer.clear();
    return good(cmd);
}

}  // namespace iscsikit::scsi::detail
