// SCSI status and sense data (SPC-4 §4.5). A SCSI failure is a Sense value returned up to the
// task, never an exception (STYLE.md rule 6).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace iscsikit::scsi {

// SAM-5 status codes
enum class Status : std::uint8_t {
    good = 0x00,
    check_condition = 0x02,
    condition_met = 0x04,
    busy = 0x08,
    reservation_conflict = 0x18,
    task_set_full = 0x28,
    aca_active = 0x30,
    task_aborted = 0x40,
};

enum class SenseKey : std::uint8_t {
    no_sense = 0x0,
    recovered_error = 0x1,
    not_ready = 0x2,
    medium_error = 0x3,
    hardware_error = 0x4,
    illegal_request = 0x5,
    unit_attention = 0x6,
    data_protect = 0x7,
    blank_check = 0x8,
    copy_aborted = 0xa,
    aborted_command = 0xb,
    volume_overflow = 0xd,
    miscompare = 0xe,
};

struct Sense {
    SenseKey key = SenseKey::no_sense;
    std::uint8_t asc = 0;
    std::uint8_t ascq = 0;
    std::optional<std::uint64_t> information;  // VALID bit + INFORMATION field
    // Sense-key specific field pointer (SPC-4 §4.5.2.4.2): which CDB (cd=true) or parameter-list
    // byte, and optionally which bit, is wrong.
    std::optional<std::uint16_t> field_pointer;
    bool field_in_cdb = true;
    std::optional<std::uint8_t> bit_pointer;
    // Or, for NOT READY, the progress indication (SPC-4 §4.5.2.4.4): done so far, of 65536.
    std::optional<std::uint16_t> progress;

    // Fixed-format sense data (response code 70h), 18 bytes.
    std::vector<std::uint8_t> encode_fixed() const;
    // Descriptor-format sense data (response code 72h, SPC-4 §4.5.2): information and
    // sense-key-specific descriptors when present.
    std::vector<std::uint8_t> encode_descriptor() const;
    // Writes the fixed format into `out` (at least kFixedLength bytes); returns the length.
    std::size_t encode_fixed_into(std::uint8_t* out) const;
    static constexpr std::size_t kFixedLength = 18;

    static Sense make(SenseKey key, std::uint8_t asc, std::uint8_t ascq) {
        Sense s;
        s.key = key;
        s.asc = asc;
        s.ascq = ascq;
        return s;
    }

    // The ones every command path needs.
    static Sense invalid_opcode() { return make(SenseKey::illegal_request, 0x20, 0x00); }
    static Sense lba_out_of_range() { return make(SenseKey::illegal_request, 0x21, 0x00); }
    static Sense invalid_field_in_cdb(std::uint16_t byte, std::optional<std::uint8_t> bit = std::nullopt) {
        Sense s = make(SenseKey::illegal_request, 0x24, 0x00);
        s.field_pointer = byte;
        s.field_in_cdb = true;
        s.bit_pointer = bit;
        return s;
    }
    static Sense invalid_field_in_parameter_list(std::uint16_t byte, std::optional<std::uint8_t> bit = std::nullopt) {
        Sense s = make(SenseKey::illegal_request, 0x26, 0x00);
        s.field_pointer = byte;
        s.field_in_cdb = false;
        s.bit_pointer = bit;
        return s;
    }
    static Sense invalid_field_in_command_information_unit() { return make(SenseKey::illegal_request, 0x0e, 0x03); }
    static Sense saving_parameters_not_supported() { return make(SenseKey::illegal_request, 0x39, 0x00); }
    static Sense medium_removal_prevented() { return make(SenseKey::illegal_request, 0x53, 0x02); }
    static Sense not_ready_initializing_command_required() { return make(SenseKey::not_ready, 0x04, 0x02); }
    static Sense software_write_protected() { return make(SenseKey::data_protect, 0x27, 0x02); }
    static Sense space_allocation_failed() { return make(SenseKey::data_protect, 0x27, 0x07); }
    static Sense miscompare_during_verify(std::uint64_t offset) {
        Sense s = make(SenseKey::miscompare, 0x1d, 0x00);
        s.information = offset;
        return s;
    }
    static Sense unit_attention(std::uint8_t asc, std::uint8_t ascq) {
        return make(SenseKey::unit_attention, asc, ascq);
    }
    // SPC-4 §5.13.11.2: RELEASE by the holder with another TYPE or SCOPE than the reservation's.
    static Sense invalid_release_of_persistent_reservation() { return make(SenseKey::illegal_request, 0x26, 0x04); }
    // SPC-4 §5.13.7: no room for another registration.
    static Sense insufficient_registration_resources() { return make(SenseKey::illegal_request, 0x55, 0x04); }
    static Sense parameter_list_length_error() { return make(SenseKey::illegal_request, 0x1a, 0x00); }
    static Sense lun_not_supported() { return make(SenseKey::illegal_request, 0x25, 0x00); }
    static Sense write_protected() { return make(SenseKey::data_protect, 0x27, 0x00); }
    static Sense medium_not_present() { return make(SenseKey::not_ready, 0x3a, 0x00); }
    static Sense unrecovered_read_error() { return make(SenseKey::medium_error, 0x11, 0x00); }
    static Sense write_error() { return make(SenseKey::medium_error, 0x0c, 0x00); }
    static Sense internal_target_failure() { return make(SenseKey::hardware_error, 0x44, 0x00); }
    static Sense sanitize_in_progress(std::uint16_t progress) {
        Sense s = make(SenseKey::not_ready, 0x04, 0x1b);
        s.progress = progress;
        return s;
    }
    static Sense sanitize_command_failed() { return make(SenseKey::medium_error, 0x31, 0x03); }

    // EXTENDED COPY (SPC-4 §6.4) and the ASC/ASCQ assignments of SPC-4 Annex D.
    static Sense too_many_target_descriptors() { return make(SenseKey::illegal_request, 0x26, 0x06); }
    static Sense unsupported_target_descriptor_type_code() { return make(SenseKey::illegal_request, 0x26, 0x07); }
    static Sense too_many_segment_descriptors() { return make(SenseKey::illegal_request, 0x26, 0x08); }
    static Sense unsupported_segment_descriptor_type_code() { return make(SenseKey::illegal_request, 0x26, 0x09); }
    static Sense operation_in_progress() { return make(SenseKey::illegal_request, 0x00, 0x16); }
    static Sense insufficient_resources() { return make(SenseKey::illegal_request, 0x55, 0x03); }
    // SPC-4 §4.5.2.4.5: COPY ABORTED with a segment pointer, here always relative to the
    // parameter list (SD 0), at the field of the segment descriptor that could not be processed.
    static Sense copy_aborted(std::uint8_t asc, std::uint8_t ascq, std::optional<std::uint16_t> parameter_byte = {}) {
        Sense s = make(SenseKey::copy_aborted, asc, ascq);
        s.field_pointer = parameter_byte;
        s.field_in_cdb = false;
        return s;
    }
};

}  // namespace iscsikit::scsi
