// Decoding received sense data (SPC-4 4.5) and naming what it says: sense keys (SPC-4 Table 28),
// statuses (SAM-5 5.3) and additional sense codes (SPC-4 Annex D, as one table).
#include "scsi/sense_decode.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "core/bytes.hpp"

namespace iscsikit::scsi {
namespace {

struct AscEntry {
    std::uint8_t asc;
    std::uint8_t ascq;
    const char* text;
};

// SPC-4 Annex D (D.2), the phrases shortened and in lower case; every code src/scsi/ and
// src/target/ emit is here (sense_decode_test checks them).
constexpr AscEntry kAscTable[] = {
    {0x00, 0x00, "no additional sense information"},
    {0x00, 0x06, "I/O process terminated"},
    {0x00, 0x16, "operation in progress"},
    {0x00, 0x17, "cleaning requested"},
    {0x04, 0x00, "logical unit not ready, cause not reportable"},
    {0x04, 0x01, "logical unit is in process of becoming ready"},
    {0x04, 0x02, "logical unit not ready, initializing command required"},
    {0x04, 0x03, "logical unit not ready, manual intervention required"},
    {0x04, 0x04, "logical unit not ready, format in progress"},
    {0x04, 0x05, "logical unit not ready, rebuild in progress"},
    {0x04, 0x06, "logical unit not ready, recalculation in progress"},
    {0x04, 0x07, "logical unit not ready, operation in progress"},
    {0x04, 0x08, "logical unit not ready, long write in progress"},
    {0x04, 0x09, "logical unit not ready, self-test in progress"},
    {0x04, 0x0a, "logical unit not accessible, asymmetric access state transition"},
    {0x04, 0x0b, "logical unit not accessible, target port in standby state"},
    {0x04, 0x0c, "logical unit not accessible, target port in unavailable state"},
    {0x04, 0x0d, "logical unit not ready, structure check required"},
    {0x04, 0x10, "logical unit not ready, auxiliary memory not accessible"},
    {0x04, 0x11, "logical unit not ready, notify (enable spinup) required"},
    {0x04, 0x12, "logical unit not ready, offline"},
    {0x04, 0x13, "logical unit not ready, SA creation in progress"},
    {0x04, 0x14, "logical unit not ready, space allocation in progress"},
    {0x04, 0x1b, "logical unit not ready, sanitize in progress"},
    {0x04, 0x1c, "logical unit not ready, additional power use not yet granted"},
    {0x05, 0x00, "logical unit does not respond to selection"},
    {0x08, 0x00, "logical unit communication failure"},
    {0x08, 0x01, "logical unit communication time-out"},
    {0x0c, 0x00, "write error"},
    {0x0c, 0x02, "write error, auto reallocation failed"},
    {0x0c, 0x03, "write error, recommend reassignment"},
    {0x0e, 0x00, "invalid information unit"},
    {0x0e, 0x01, "information unit too short"},
    {0x0e, 0x02, "information unit too long"},
    {0x0e, 0x03, "invalid field in command information unit"},
    {0x10, 0x00, "ID CRC or ECC error"},
    {0x11, 0x00, "unrecovered read error"},
    {0x11, 0x01, "read retries exhausted"},
    {0x14, 0x01, "record not found"},
    {0x1a, 0x00, "parameter list length error"},
    {0x1d, 0x00, "miscompare during verify operation"},
    {0x20, 0x00, "invalid command operation code"},
    {0x20, 0x01, "access denied, initiator pending-enrolled"},
    {0x20, 0x02, "access denied, no access rights"},
    {0x21, 0x00, "LBA out of range"},
    {0x21, 0x01, "invalid element address"},
    {0x21, 0x02, "invalid address for write"},
    {0x24, 0x00, "invalid field in CDB"},
    {0x25, 0x00, "logical unit not supported"},
    {0x26, 0x00, "invalid field in parameter list"},
    {0x26, 0x01, "parameter not supported"},
    {0x26, 0x02, "parameter value invalid"},
    {0x26, 0x03, "threshold parameters not supported"},
    {0x26, 0x04, "invalid release of persistent reservation"},
    {0x26, 0x06, "too many target descriptors"},
    {0x26, 0x07, "unsupported target descriptor type code"},
    {0x26, 0x08, "too many segment descriptors"},
    {0x26, 0x09, "unsupported segment descriptor type code"},
    {0x27, 0x00, "write protected"},
    {0x27, 0x01, "hardware write protected"},
    {0x27, 0x02, "logical unit software write protected"},
    {0x27, 0x03, "associated write protect"},
    {0x27, 0x04, "persistent write protect"},
    {0x27, 0x05, "permanent write protect"},
    {0x27, 0x06, "conditional write protect"},
    {0x27, 0x07, "space allocation failed write protect"},
    {0x28, 0x00, "not ready to ready change, medium may have changed"},
    {0x28, 0x01, "import or export element accessed"},
    {0x29, 0x00, "power on, reset, or bus device reset occurred"},
    {0x29, 0x01, "power on occurred"},
    {0x29, 0x02, "SCSI bus reset occurred"},
    {0x29, 0x03, "bus device reset function occurred"},
    {0x29, 0x04, "device internal reset"},
    {0x29, 0x05, "transceiver mode changed to single-ended"},
    {0x29, 0x06, "transceiver mode changed to LVD"},
    {0x29, 0x07, "I_T nexus loss occurred"},
    {0x2a, 0x00, "parameters changed"},
    {0x2a, 0x01, "mode parameters changed"},
    {0x2a, 0x02, "log parameters changed"},
    {0x2a, 0x03, "reservations preempted"},
    {0x2a, 0x04, "reservations released"},
    {0x2a, 0x05, "registrations preempted"},
    {0x2a, 0x06, "asymmetric access state changed"},
    {0x2a, 0x07, "implicit asymmetric access state transition failed"},
    {0x2a, 0x08, "priority changed"},
    {0x2a, 0x09, "capacity data has changed"},
    {0x2c, 0x00, "command sequence error"},
    {0x2f, 0x00, "commands cleared by another initiator"},
    {0x2f, 0x01, "commands cleared by power loss notification"},
    {0x2f, 0x02, "commands cleared by device server"},
    {0x30, 0x00, "incompatible medium installed"},
    {0x31, 0x00, "medium format corrupted"},
    {0x31, 0x03, "sanitize command failed"},
    {0x37, 0x00, "rounded parameter"},
    {0x38, 0x07, "thin provisioning soft threshold reached"},
    {0x39, 0x00, "saving parameters not supported"},
    {0x3a, 0x00, "medium not present"},
    {0x3a, 0x01, "medium not present, tray closed"},
    {0x3a, 0x02, "medium not present, tray open"},
    {0x3a, 0x03, "medium not present, loadable"},
    {0x3a, 0x04, "medium not present, medium auxiliary memory accessible"},
    {0x3e, 0x00, "logical unit has not self-configured yet"},
    {0x3e, 0x01, "logical unit failure"},
    {0x3e, 0x02, "timeout on logical unit"},
    {0x3e, 0x03, "logical unit failed self-test"},
    {0x3f, 0x00, "target operating conditions have changed"},
    {0x3f, 0x01, "microcode has been changed"},
    {0x3f, 0x02, "changed operating definition"},
    {0x3f, 0x03, "inquiry data has changed"},
    {0x3f, 0x04, "component device attached"},
    {0x3f, 0x05, "device identifier changed"},
    {0x3f, 0x0e, "reported luns data has changed"},
    {0x3f, 0x0f, "echo buffer overwritten"},
    {0x3f, 0x12, "iSCSI IP address added"},
    {0x3f, 0x13, "iSCSI IP address removed"},
    {0x3f, 0x14, "iSCSI IP address changed"},
    {0x43, 0x00, "message error"},
    {0x44, 0x00, "internal target failure"},
    {0x45, 0x00, "select or reselect failure"},
    {0x47, 0x00, "SCSI parity error"},
    {0x47, 0x01, "data phase CRC error detected"},
    {0x47, 0x03, "information unit iuCRC error detected"},
    {0x47, 0x05, "protocol service CRC error"},
    {0x47, 0x7f, "some commands cleared by iSCSI protocol event"},
    {0x48, 0x00, "initiator detected error message received"},
    {0x49, 0x00, "invalid message error"},
    {0x4a, 0x00, "command phase error"},
    {0x4b, 0x00, "data phase error"},
    {0x4b, 0x01, "invalid target port transfer tag received"},
    {0x4b, 0x02, "too much write data"},
    {0x4b, 0x03, "ACK/NAK timeout"},
    {0x4b, 0x04, "NAK received"},
    {0x4b, 0x05, "data offset error"},
    {0x4b, 0x06, "initiator response timeout"},
    {0x4b, 0x07, "connection lost"},
    {0x4c, 0x00, "logical unit failed self-configuration"},
    {0x4e, 0x00, "overlapped commands attempted"},
    {0x53, 0x00, "media load or eject failed"},
    {0x53, 0x02, "medium removal prevented"},
    {0x55, 0x00, "system resource failure"},
    {0x55, 0x03, "insufficient resources"},
    {0x55, 0x04, "insufficient registration resources"},
    {0x5d, 0x00, "failure prediction threshold exceeded"},
    {0x5e, 0x00, "low power condition on"},
};

// SPC-4 4.5.2.4.2: the field pointer form of the SENSE KEY SPECIFIC bytes, which only ILLEGAL
// REQUEST uses; SKSV (bit 7 of the first byte) says whether they are valid.
void read_field_pointer(std::span<const std::uint8_t> sks, Sense& s) {
    if (s.key != SenseKey::illegal_request || !(sks[0] & 0x80)) return;
    s.field_in_cdb = (sks[0] & 0x40) != 0;             // C/D
    if (sks[0] & 0x08) s.bit_pointer = sks[0] & 0x07;  // BPV
    s.field_pointer = load_be16(&sks[1]);
}

// ADDITIONAL SENSE LENGTH (byte 7 in both formats) bounds the bytes that count.
std::span<const std::uint8_t> within_length(std::span<const std::uint8_t> data) {
    if (data.size() < 8) return data;
    return data.first(std::min<std::size_t>(data.size(), 8 + std::size_t{data[7]}));
}

// SPC-4 4.5.3 fixed format.
Sense decode_fixed(std::span<const std::uint8_t> d) {
    Sense s;
    s.key = static_cast<SenseKey>(d[2] & 0x0f);
    if ((d[0] & 0x80) && d.size() >= 7) s.information = load_be32(&d[3]);  // VALID
    if (d.size() >= 13) s.asc = d[12];
    if (d.size() >= 14) s.ascq = d[13];
    if (d.size() >= 18) read_field_pointer(d.subspan(15, 3), s);
    return s;
}

// SPC-4 4.5.2 descriptor format: a header, then (type, length, body) descriptors.
Sense decode_descriptors(std::span<const std::uint8_t> d) {
    Sense s;
    s.key = static_cast<SenseKey>(d[1] & 0x0f);
    if (d.size() >= 3) s.asc = d[2];
    if (d.size() >= 4) s.ascq = d[3];
    for (std::size_t at = 8; at + 2 <= d.size();) {
        const std::size_t length = d[at + 1];
        if (at + 2 + length > d.size()) break;
        const auto body = d.subspan(at, 2 + length);
        // 4.5.2.2 information descriptor: VALID in byte 2, INFORMATION in bytes 4-11.
        if (body[0] == 0x00 && length >= 0x0a && (body[2] & 0x80)) s.information = load_be64(&body[4]);
        // 4.5.2.3 sense key specific descriptor: the three bytes at 4-6.
        if (body[0] == 0x02 && length >= 0x06) read_field_pointer(body.subspan(4, 3), s);
        at += 2 + length;
    }
    return s;
}

}  // namespace

std::optional<Sense> decode_sense(std::span<const std::uint8_t> data) {
    if (data.empty()) return std::nullopt;
    const auto d = within_length(data);
    switch (data[0] & 0x7f) {
        case 0x70:
        case 0x71:  // current, deferred
            if (d.size() < 3) return std::nullopt;
            return decode_fixed(d);
        case 0x72:
        case 0x73:
            if (d.size() < 2) return std::nullopt;
            return decode_descriptors(d);
        default: return std::nullopt;
    }
}

const char* sense_key_name(SenseKey key) {
    static constexpr std::array<const char*, 16> kNames = {
        "NO SENSE",       "RECOVERED ERROR", "NOT READY",   "MEDIUM ERROR",    "HARDWARE ERROR", "ILLEGAL REQUEST",
        "UNIT ATTENTION", "DATA PROTECT",    "BLANK CHECK", "VENDOR SPECIFIC", "COPY ABORTED",   "ABORTED COMMAND",
        "RESERVED (0Ch)", "VOLUME OVERFLOW", "MISCOMPARE",  "COMPLETED",
    };
    return kNames[static_cast<std::uint8_t>(key) & 0x0f];
}

const char* status_name(Status status) {
    switch (static_cast<std::uint8_t>(status)) {
        case 0x00: return "GOOD";
        case 0x02: return "CHECK CONDITION";
        case 0x04: return "CONDITION MET";
        case 0x08: return "BUSY";
        case 0x10: return "INTERMEDIATE";  // obsolete
        case 0x14: return "INTERMEDIATE-CONDITION MET";
        case 0x18: return "RESERVATION CONFLICT";
        case 0x22: return "COMMAND TERMINATED";
        case 0x28: return "TASK SET FULL";
        case 0x30: return "ACA ACTIVE";
        case 0x40: return "TASK ABORTED";
        default: return "UNKNOWN STATUS";
    }
}

const char* asc_description(std::uint8_t asc, std::uint8_t ascq) {
    for (const AscEntry& e : kAscTable)
        if (e.asc == asc && e.ascq == ascq) return e.text;
    return nullptr;
}

std::string describe_sense(const Sense& sense) {
    std::string codes = fmt::format("{}, ASC/ASCQ {:02X}h/{:02X}h", sense_key_name(sense.key), sense.asc, sense.ascq);
    if (const char* text = asc_description(sense.asc, sense.ascq)) return fmt::format("{} ({})", text, codes);
    return codes;
}

std::string describe_status(Status status, const std::optional<Sense>& sense) {
    if (status != Status::check_condition) return status_name(status);
    return sense ? describe_sense(*sense) : "CHECK CONDITION (no sense data)";
}

}  // namespace iscsikit::scsi
