// Reading sense data an initiator receives (SPC-4 4.5) and saying what it means in words.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "scsi/sense.hpp"

namespace iscsikit::scsi {

// Fixed (70h/71h) or descriptor (72h/73h) format; nullopt when neither or too short to hold the
// sense key. INFORMATION and the sense-key-specific field pointer are decoded when present.
std::optional<Sense> decode_sense(std::span<const std::uint8_t> data);

// "ILLEGAL REQUEST", "UNIT ATTENTION"...
const char* sense_key_name(SenseKey key);
// "GOOD", "CHECK CONDITION", "RESERVATION CONFLICT", "TASK SET FULL"...
const char* status_name(Status status);
// A short phrase for the additional sense code: "LBA out of range", "medium not present",
// "invalid field in CDB", "power on, reset, or bus device reset occurred"...; nullptr when
// unknown. Covers at least every code src/scsi/ emits plus the common SPC-4 Annex D ones.
const char* asc_description(std::uint8_t asc, std::uint8_t ascq);
// One line: "LBA out of range (ILLEGAL REQUEST, ASC/ASCQ 21h/00h)", or for unknown codes
// "ILLEGAL REQUEST, ASC/ASCQ 99h/01h".
std::string describe_sense(const Sense& sense);
// For a status with optional sense: "RESERVATION CONFLICT", or describe_sense for CHECK CONDITION,
// "CHECK CONDITION (no sense data)" when it is missing.
std::string describe_status(Status status, const std::optional<Sense>& sense);

}  // namespace iscsikit::scsi
