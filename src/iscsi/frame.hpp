// Framing: turning bytes from the socket into PDUs and PDUs into bytes, with padding and digests
// (RFC 7143 §11.1, §12.1). Every length is checked against the receiver's limits before anything
// is allocated.
#pragma once

#include <vector>

#include <tl/expected.hpp>

#include "iscsi/pdu.hpp"

namespace iscsikit::iscsi {

// What framing needs to know once the 48 BHS bytes are in: how many more bytes the PDU occupies.
struct FrameLayout {
    std::uint32_t ahs_length = 0;           // bytes
    std::uint32_t data_segment_length = 0;  // bytes, unpadded
    std::uint32_t padded_data_length = 0;   // bytes, with padding
    bool header_digest = false;
    bool data_digest = false;
    // Bytes after the BHS: AHS, header digest, padded data, data digest.
    std::uint32_t remaining() const {
        return ahs_length + (header_digest ? kDigestLength : 0) + padded_data_length +
               (data_digest && data_segment_length ? kDigestLength : 0);
    }
};

// The limits a receiver enforces before it allocates anything (RFC 7143 §11.2.1.3: the data segment
// never exceeds MaxRecvDataSegmentLength; during login 8192 applies).
struct FrameLimits {
    std::uint32_t max_data_segment_length = 8192;
    bool header_digest = false;
    bool data_digest = false;
};

enum class FrameError : std::uint8_t {
    data_segment_too_long,  // the peer declared more than MaxRecvDataSegmentLength
    header_digest_mismatch,
    data_digest_mismatch,
    truncated,  // fewer bytes than the header promised
};
const char* frame_error_name(FrameError e);

// From a complete BHS: the layout of the rest of the PDU, or data_segment_too_long when the
// declared DataSegmentLength exceeds limits.max_data_segment_length.
tl::expected<FrameLayout, FrameError> frame_layout(const Bhs& bhs, const FrameLimits& limits);

// Checks the header digest that follows BHS+AHS (layout.header_digest must be true).
bool header_digest_ok(const Bhs& bhs, ConstByteSpan ahs, const std::byte* digest);
// Checks the data digest over the data segment and its padding.
bool data_digest_ok(ConstByteSpan padded_data, const std::byte* digest);

// Decodes one whole PDU from `bytes` (for tests, fuzzing and the initiator's simple paths; the
// target's receive loop uses frame_layout and reads in place). On success also reports how many
// bytes it consumed.
struct Decoded {
    Pdu pdu;
    std::size_t consumed = 0;
};
tl::expected<Decoded, FrameError> decode_pdu(ConstByteSpan bytes, const FrameLimits& limits);

// Appends the wire form of `pdu` to `out`: BHS (with TotalAHSLength and DataSegmentLength set from
// the vectors), AHS, header digest, data, padding, data digest.
void encode_pdu(const Pdu& pdu, bool header_digest, bool data_digest, std::vector<std::byte>& out);

}  // namespace iscsikit::iscsi
