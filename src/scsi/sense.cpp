// Sense data encodings (SPC-4 §4.5): fixed format for every CHECK CONDITION, descriptor format
// for REQUEST SENSE with DESC set.
#include "scsi/sense.hpp"

#include <algorithm>
#include <array>

#include "core/bytes.hpp"

namespace iscsikit::scsi {
namespace {

bool has_key_specific(const Sense& s) { return s.field_pointer || s.progress; }

// The 3 sense-key-specific bytes. SPC-4 §4.5.2.4.2: SKSV, C/D, BPV and BIT POINTER in the first
// byte, FIELD POINTER after it; §4.5.2.4.4: SKSV, then PROGRESS INDICATION.
void put_key_specific(const Sense& s, std::uint8_t* p) {
    p[0] = 0x80;  // SKSV
    if (!s.field_pointer) {
        store_be16(p + 1, *s.progress);
        return;
    }
    if (s.field_in_cdb) p[0] |= 0x40;
    if (s.bit_pointer) p[0] |= static_cast<std::uint8_t>(0x08 | (*s.bit_pointer & 0x07));
    store_be16(p + 1, *s.field_pointer);
}

}  // namespace

std::size_t Sense::encode_fixed_into(std::uint8_t* out) const {
    std::fill_n(out, kFixedLength, std::uint8_t{0});
    out[0] = 0x70;  // current error, fixed format
    // SPC-4 §4.5.3: the INFORMATION field holds 4 bytes; VALID only when the value fits.
    if (information && *information <= 0xffffffffu) {
        out[0] |= 0x80;
        store_be32(out + 3, static_cast<std::uint32_t>(*information));
    }
    out[2] = static_cast<std::uint8_t>(key);
    out[7] = kFixedLength - 8;  // ADDITIONAL SENSE LENGTH
    out[12] = asc;
    out[13] = ascq;
    if (has_key_specific(*this)) put_key_specific(*this, out + 15);
    return kFixedLength;
}

std::vector<std::uint8_t> Sense::encode_fixed() const {
    std::vector<std::uint8_t> out(kFixedLength);
    encode_fixed_into(out.data());
    return out;
}

std::vector<std::uint8_t> Sense::encode_descriptor() const {
    std::array<std::uint8_t, 8 + 12 + 8> out{};
    std::size_t n = 8;
    out[0] = 0x72;  // current error, descriptor format
    out[1] = static_cast<std::uint8_t>(key);
    out[2] = asc;
    out[3] = ascq;
    if (information) {
        // SPC-4 §4.5.2.2: information descriptor, type 00h, VALID set, 8-byte INFORMATION.
        out[n + 1] = 0x0a;
        out[n + 2] = 0x80;
        for (int i = 0; i < 8; ++i)
            out[n + 4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(*information >> (56 - 8 * i));
        n += 12;
    }
    if (has_key_specific(*this)) {
        // SPC-4 §4.5.2.3: sense key specific descriptor, type 02h.
        out[n] = 0x02;
        out[n + 1] = 0x06;
        put_key_specific(*this, out.data() + n + 4);
        n += 8;
    }
    out[7] = static_cast<std::uint8_t>(n - 8);
    return std::vector<std::uint8_t>(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace iscsikit::scsi
