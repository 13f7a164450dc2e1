// The initiator's side of SCSI: CDB builders for the commands it sends and parsers for the data
// those commands return (SPC-4, SBC-3). Pure functions over bytes; nothing here knows iSCSI.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "scsi/cdb.hpp"
#include "scsi/lun.hpp"  // encode_lun for the initiator's PDUs

namespace iscsikit::scsi::build {

Cdb test_unit_ready();                                                                              // SPC-4 6.47
Cdb inquiry(std::uint16_t allocation_length, std::optional<std::uint8_t> vpd_page = std::nullopt);  // SPC-4 6.6
Cdb read_capacity16(std::uint32_t allocation_length = 32);                                          // SBC-3 5.16
Cdb report_luns(std::uint32_t allocation_length, std::uint8_t select_report = 0);                   // SPC-4 6.33
Cdb read16(std::uint64_t lba, std::uint32_t blocks, bool fua = false);                              // SBC-3 5.11
Cdb write16(std::uint64_t lba, std::uint32_t blocks, bool fua = false);                             // SBC-3 5.34
Cdb synchronize_cache16(std::uint64_t lba = 0, std::uint32_t blocks = 0, bool immed = false);       // SBC-3 5.27
Cdb unmap(std::uint16_t parameter_list_length);                                                     // SBC-3 5.28
// MODE SENSE(6) of every page (3Fh), current values, block descriptors left out (DBD).
Cdb mode_sense6(std::uint8_t allocation_length);  // SPC-4 6.11

struct UnmapRange {
    std::uint64_t lba = 0;
    std::uint32_t blocks = 0;
};
// SBC-3 5.28.2: the UNMAP parameter list (8-byte header, 16-byte block descriptors).
std::vector<std::uint8_t> unmap_parameters(std::span<const UnmapRange> ranges);

}  // namespace iscsikit::scsi::build

namespace iscsikit::scsi::parse {

// SPC-4 6.6.2 standard INQUIRY data (at least 36 bytes).
struct InquiryData {
    std::uint8_t peripheral_qualifier = 0;
    std::uint8_t device_type = 0;  // 0 = direct access block device
    bool removable = false;
    std::uint8_t version = 0;
    std::string vendor, product, revision;  // trailing spaces trimmed
};
std::optional<InquiryData> inquiry(std::span<const std::uint8_t> data);

// SPC-4 6.6.2 PERIPHERAL DEVICE TYPE names: "disk", "tape", "cd/dvd", "enclosure", "no device"...
const char* device_type_name(std::uint8_t type);

// SBC-3 5.16.2 READ CAPACITY (16) parameter data (at least 32 bytes).
struct Capacity {
    std::uint64_t blocks = 0;      // RETURNED LOGICAL BLOCK ADDRESS + 1
    std::uint32_t block_size = 0;  // LOGICAL BLOCK LENGTH IN BYTES
    std::uint8_t lbppbe = 0;       // logical blocks per physical block exponent
    bool thin = false;             // LBPME
    bool lbprz = false;
    std::uint64_t bytes() const { return blocks * block_size; }
};
std::optional<Capacity> read_capacity16(std::span<const std::uint8_t> data);

// SBC-3 6.5.3 Block Limits VPD page (B0h). Lengths in logical blocks; 0 means the device
// reports no limit. nullopt when the data is not that page or shorter than its first 16 bytes.
struct BlockLimits {
    std::uint32_t max_transfer_blocks = 0;      // MAXIMUM TRANSFER LENGTH
    std::uint32_t optimal_transfer_blocks = 0;  // OPTIMAL TRANSFER LENGTH
    std::uint32_t max_unmap_blocks = 0;         // MAXIMUM UNMAP LBA COUNT
    std::uint32_t max_unmap_descriptors = 0;    // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
};
std::optional<BlockLimits> block_limits(std::span<const std::uint8_t> data);

// SBC-3 6.4.1: the WP bit of a MODE SENSE(6) header's DEVICE-SPECIFIC PARAMETER (byte 2, bit 7):
// the medium is write-protected. nullopt when the data is shorter than the 4-byte header.
std::optional<bool> mode_sense6_write_protected(std::span<const std::uint8_t> data);

// SPC-4 6.33.2 REPORT LUNS parameter data: the LUNs as numbers (decoded by scsi/lun.hpp; entries in
// an addressing form it does not support are left out). nullopt when the
// list is shorter than its header says it is and no whole entry is present.
std::optional<std::vector<std::uint64_t>> report_luns(std::span<const std::uint8_t> data);

// VPD page 80h (unit serial number) and 83h (device identification, each designator as text:
// "naa.6001405...", "t10.VENDOR...", "eui.…", or the ASCII of an iSCSI name).
std::optional<std::string> unit_serial_number(std::span<const std::uint8_t> data);
std::optional<std::vector<std::string>> device_identifiers(std::span<const std::uint8_t> data);

}  // namespace iscsikit::scsi::parse
