// CDB builders and parameter-data parsers for the initiator (SPC-4, SBC-3): byte layouts written
// field by field, every length checked before a byte is read.
#include "scsi/initiator_cdb.hpp"

#include <algorithm>

namespace iscsikit::scsi {
namespace {

// READ(16), WRITE(16), SYNCHRONIZE CACHE(16): LBA in bytes 2-9, block count in 10-13.
Cdb block_command16(std::uint8_t opcode, std::uint8_t flags, std::uint64_t lba, std::uint32_t blocks) {
    Cdb c{};
    c[0] = opcode;
    c[1] = flags;
    store_be64(&c[2], lba);
    store_be32(&c[10], static_cast<std::uint32_t>(blocks));
    return c;
}

// ASCII field: trailing spaces (SPC-4 4.3.1 pads with them) and NULs removed.
std::string trimmed_ascii(std::span<const std::uint8_t> bytes) {
    std::string text(bytes.begin(), bytes.end());
    const auto end = text.find_last_not_of(std::string_view(" \0", 2));
    text.erase(end == std::string::npos ? 0 : end + 1);
    return text;
}

std::string hex(std::span<const std::uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0f];
    }
    return out;
}

// SPC-4 7.8.6: one designator as text, by DESIGNATOR TYPE.
std::string designator_text(std::uint8_t type, std::span<const std::uint8_t> value) {
    switch (type) {
        case 0x1: return "t10." + trimmed_ascii(value);  // 7.8.6.4 T10 vendor ID based
        case 0x2: return "eui." + hex(value);            // 7.8.6.5 EUI-64 based
        case 0x3: return "naa." + hex(value);            // 7.8.6.6 NAA
        case 0x8: {                                      // 7.8.6.11 SCSI name string, null terminated
            const auto nul = std::find(value.begin(), value.end(), std::uint8_t{0});
            return std::string(value.begin(), nul);
        }
        default: return "type" + std::to_string(type) + "." + hex(value);
    }
}

}  // namespace

namespace build {

Cdb test_unit_ready() { return Cdb{}; }  // opcode 00h, every field zero

Cdb inquiry(std::uint16_t allocation_length, std::optional<std::uint8_t> vpd_page) {
    Cdb c{};
    c[0] = 0x12;
    if (vpd_page) {
        c[1] = 0x01;  // EVPD
        c[2] = *vpd_page;
    }
    store_be16(&c[3], static_cast<std::uint16_t>(allocation_length));
    return c;
}

Cdb read_capacity16(std::uint32_t allocation_length) {
    Cdb c{};
    c[0] = 0x9e;  // SERVICE ACTION IN(16)
    c[1] = 0x10;  // READ CAPACITY(16)
    store_be32(&c[10], static_cast<std::uint32_t>(allocation_length));
    return c;
}

Cdb report_luns(std::uint32_t allocation_length, std::uint8_t select_report) {
    Cdb c{};
    c[0] = 0xa0;
    c[2] = select_report;
    store_be32(&c[6], static_cast<std::uint32_t>(allocation_length));
    return c;
}

Cdb read16(std::uint64_t lba, std::uint32_t blocks, bool fua) {
    return block_command16(0x88, fua ? 0x08 : 0x00, lba, blocks);  // SBC-3 5.11: FUA is byte 1 bit 3
}

Cdb write16(std::uint64_t lba, std::uint32_t blocks, bool fua) {
    return block_command16(0x8a, fua ? 0x08 : 0x00, lba, blocks);
}

Cdb synchronize_cache16(std::uint64_t lba, std::uint32_t blocks, bool immed) {
    return block_command16(0x91, immed ? 0x02 : 0x00, lba, blocks);  // SBC-3 5.27: IMMED is byte 1 bit 1
}

Cdb unmap(std::uint16_t parameter_list_length) {
    Cdb c{};
    c[0] = 0x42;
    store_be16(&c[7], static_cast<std::uint16_t>(parameter_list_length));
    return c;
}

Cdb mode_sense6(std::uint8_t allocation_length) {
    Cdb c{};
    c[0] = 0x1a;
    c[1] = 0x08;  // DBD
    c[2] = 0x3f;  // PC 00b (current values), PAGE CODE 3Fh: every page
    c[4] = allocation_length;
    return c;
}

std::vector<std::uint8_t> unmap_parameters(std::span<const UnmapRange> ranges) {
    std::vector<std::uint8_t> out(8 + 16 * ranges.size(), 0);
    // UNMAP DATA LENGTH counts the bytes after itself; then UNMAP BLOCK DESCRIPTOR DATA LENGTH.
    store_be16(&out[0], static_cast<std::uint16_t>(out.size() - 2));
    store_be16(&out[2], static_cast<std::uint16_t>(16 * ranges.size()));
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        store_be64(&out[8 + 16 * i], ranges[i].lba);
        store_be32(&out[16 + 16 * i], static_cast<std::uint32_t>(ranges[i].blocks));
    }
    return out;
}

}  // namespace build

namespace parse {

std::optional<InquiryData> inquiry(std::span<const std::uint8_t> data) {
    if (data.size() < 36) return std::nullopt;
    InquiryData d;
    d.peripheral_qualifier = data[0] >> 5;
    d.device_type = data[0] & 0x1f;
    d.removable = (data[1] & 0x80) != 0;
    d.version = data[2];
    d.vendor = trimmed_ascii(data.subspan(8, 8));
    d.product = trimmed_ascii(data.subspan(16, 16));
    d.revision = trimmed_ascii(data.subspan(32, 4));
    return d;
}

const char* device_type_name(std::uint8_t type) {
    // SPC-4 Table 140 (PERIPHERAL DEVICE TYPE); 13h and 14h from SPC-5.
    switch (type & 0x1f) {
        case 0x00: return "disk";
        case 0x01: return "tape";
        case 0x02: return "printer";
        case 0x03: return "processor";
        case 0x04: return "write-once";
        case 0x05: return "cd/dvd";
        case 0x06: return "scanner";
        case 0x07: return "optical";
        case 0x08: return "medium changer";
        case 0x09: return "communications";
        case 0x0c: return "storage array controller";
        case 0x0d: return "enclosure";
        case 0x0e: return "simplified disk";
        case 0x0f: return "optical card reader";
        case 0x11: return "object storage";
        case 0x12: return "automation/drive interface";
        case 0x13: return "security manager";
        case 0x14: return "zoned block";
        case 0x1e: return "well known logical unit";
        case 0x1f: return "no device";
        default: return "reserved";
    }
}

std::optional<Capacity> read_capacity16(std::span<const std::uint8_t> data) {
    if (data.size() < 32) return std::nullopt;
    Capacity c;
    c.blocks = load_be64(&data[0]) + 1;
    c.block_size = load_be32(&data[8]);
    c.lbppbe = data[13] & 0x0f;
    c.thin = (data[14] & 0x80) != 0;   // LBPME
    c.lbprz = (data[14] & 0x40) != 0;  // LBPRZ
    return c;
}

std::optional<BlockLimits> block_limits(std::span<const std::uint8_t> data) {
    if (data.size() < 16 || data[1] != 0xb0) return std::nullopt;
    BlockLimits b;
    b.max_transfer_blocks = load_be32(&data[8]);
    b.optimal_transfer_blocks = load_be32(&data[12]);
    // The unmap fields follow only in the long form of the page (PAGE LENGTH 3Ch).
    if (data.size() >= 28) {
        b.max_unmap_blocks = load_be32(&data[20]);
        b.max_unmap_descriptors = load_be32(&data[24]);
    }
    return b;
}

std::optional<bool> mode_sense6_write_protected(std::span<const std::uint8_t> data) {
    if (data.size() < 4) return std::nullopt;
    return (data[2] & 0x80) != 0;
}

std::optional<std::vector<std::uint64_t>> report_luns(std::span<const std::uint8_t> data) {
    if (data.size() < 8) return std::nullopt;
    const std::uint64_t list_length = load_be32(&data[0]);  // LUN LIST LENGTH
    const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(list_length, data.size() - 8)) / 8;
    if (count == 0 && list_length != 0) return std::nullopt;
    std::vector<std::uint64_t> luns;
    luns.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        if (auto lun = decode_lun(load_be64(&data[8 + 8 * i]))) luns.push_back(*lun);
    }
    return luns;
}

std::optional<std::string> unit_serial_number(std::span<const std::uint8_t> data) {
    // SPC-4 7.8.15: PAGE LENGTH bytes of PRODUCT SERIAL NUMBER, ASCII, may be right aligned.
    if (data.size() < 4 || data[1] != 0x80) return std::nullopt;
    const std::size_t length = std::min<std::size_t>(load_be16(&data[2]), data.size() - 4);
    std::string serial = trimmed_ascii(data.subspan(4, length));
    serial.erase(0, serial.find_first_not_of(' '));
    return serial;
}

std::optional<std::vector<std::string>> device_identifiers(std::span<const std::uint8_t> data) {
    // SPC-4 7.8.6.1: designation descriptors, each a 4-byte header and DESIGNATOR LENGTH bytes.
    if (data.size() < 4 || data[1] != 0x83) return std::nullopt;
    const std::size_t end = std::min<std::size_t>(4 + load_be16(&data[2]), data.size());
    std::vector<std::string> ids;
    for (std::size_t at = 4; at + 4 <= end;) {
        const std::size_t length = data[at + 3];
        if (at + 4 + length > end) break;  // a truncated descriptor is left out
        ids.push_back(designator_text(data[at + 1] & 0x0f, data.subspan(at + 4, length)));
        at += 4 + length;
    }
    return ids;
}

}  // namespace parse

}  // namespace iscsikit::scsi
