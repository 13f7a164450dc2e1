#include "iscsi/frame.hpp"

#include <cassert>

#include "core/crc32c.hpp"

namespace iscsikit::iscsi {

namespace {

constexpr std::uint32_t kMaxDataSegmentField = 0xffffffu;   // DataSegmentLength is 24 bits (§11.2.1.4)
constexpr std::size_t kMaxAhsBytes = std::size_t{255} * 4;  // TotalAHSLength is 8 bits of words (§11.2.1.3)

std::uint32_t header_crc(const Bhs& bhs, ConstByteSpan ahs) {
    // RFC 7143 §11.1: the header digest covers the BHS and all AHS.
    return crc32c_finish(crc32c_update(crc32c_update(kCrc32cInit, bhs.span()), ahs));
}

}  // namespace

tl::expected<FrameLayout, FrameError> frame_layout(const Bhs& bhs, const FrameLimits& limits) {
    FrameLayout layout;
    layout.ahs_length = std::uint32_t{bhs.total_ahs_length()} * 4;
    layout.data_segment_length = bhs.data_segment_length();
    // RFC 7143 §11.2.1.4 / §13.12: a data segment longer than our MaxRecvDataSegmentLength is a
    // protocol error; refuse it before anything is sized from it.
    if (layout.data_segment_length > limits.max_data_segment_length) {
        return tl::unexpected(FrameError::data_segment_too_long);
    }
    layout.padded_data_length = pad4(layout.data_segment_length);
    layout.header_digest = limits.header_digest;
    layout.data_digest = limits.data_digest;
    return layout;
}

bool header_digest_ok(const Bhs& bhs, ConstByteSpan ahs, const std::byte* digest) {
    return header_crc(bhs, ahs) == load_digest(digest);
}

bool data_digest_ok(ConstByteSpan padded_data, const std::byte* digest) {
    // RFC 7143 §11.1: the data digest covers the data segment including its padding.
    return crc32c(padded_data) == load_digest(digest);
}

tl::expected<Decoded, FrameError> decode_pdu(ConstByteSpan bytes, const FrameLimits& limits) {
    if (bytes.size() < kBhsLength) return tl::unexpected(FrameError::truncated);
    Decoded out;
    out.pdu.bhs = Bhs(bytes.first(kBhsLength));
    auto layout = frame_layout(out.pdu.bhs, limits);
    if (!layout) return tl::unexpected(layout.error());
    const std::size_t total = kBhsLength + std::size_t{layout->remaining()};
    if (bytes.size() < total) return tl::unexpected(FrameError::truncated);

    std::size_t pos = kBhsLength;
    const ConstByteSpan ahs = bytes.subspan(pos, layout->ahs_length);
    pos += layout->ahs_length;
    if (layout->header_digest) {
        if (!header_digest_ok(out.pdu.bhs, ahs, bytes.data() + pos)) {
            return tl::unexpected(FrameError::header_digest_mismatch);
        }
        pos += kDigestLength;
    }
    const ConstByteSpan padded = bytes.subspan(pos, layout->padded_data_length);
    pos += layout->padded_data_length;
    // RFC 7143 §11.1: no data digest follows an empty data segment.
    if (layout->data_digest && layout->data_segment_length != 0) {
        if (!data_digest_ok(padded, bytes.data() + pos)) return tl::unexpected(FrameError::data_digest_mismatch);
        pos += kDigestLength;
    }
    out.pdu.ahs.assign(ahs.begin(), ahs.end());
    const ConstByteSpan data = padded.first(layout->data_segment_length);
    out.pdu.data.assign(data.begin(), data.end());
    out.consumed = pos;
    return out;
}

void encode_pdu(const Pdu& pdu, bool header_digest, bool data_digest, std::vector<std::byte>& out) {
    assert(pdu.ahs.size() % 4 == 0 && pdu.ahs.size() <= kMaxAhsBytes);
    assert(pdu.data.size() <= kMaxDataSegmentField);
    Bhs bhs = pdu.bhs;
    bhs.set_total_ahs_length(static_cast<std::uint8_t>(pdu.ahs.size() / 4));
    const auto data_length = static_cast<std::uint32_t>(pdu.data.size());
    bhs.set_data_segment_length(data_length);

    const std::uint32_t padded = pad4(data_length);
    const std::size_t start = out.size();
    out.reserve(start + kBhsLength + pdu.ahs.size() + (header_digest ? kDigestLength : 0) + padded +
                (data_digest && data_length ? kDigestLength : 0));
    out.insert(out.end(), bhs.span().begin(), bhs.span().end());
    out.insert(out.end(), pdu.ahs.begin(), pdu.ahs.end());
    if (header_digest) {
        out.resize(out.size() + kDigestLength);
        store_digest(out.data() + out.size() - kDigestLength, header_crc(bhs, pdu.ahs));
    }
    const std::size_t data_start = out.size();
    out.insert(out.end(), pdu.data.begin(), pdu.data.end());
    out.resize(data_start + padded, std::byte{0});  // RFC 7143 §11.1: pad with zero bytes
    if (data_digest && data_length != 0) {
        const std::uint32_t crc = crc32c(ConstByteSpan(out.data() + data_start, padded));
        out.resize(out.size() + kDigestLength);
        store_digest(out.data() + out.size() - kDigestLength, crc);
    }
}

const char* frame_error_name(FrameError e) {
    switch (e) {
        case FrameError::data_segment_too_long: return "data segment too long";
        case FrameError::header_digest_mismatch: return "header digest mismatch";
        case FrameError::data_digest_mismatch: return "data digest mismatch";
        case FrameError::truncated: return "truncated PDU";
    }
    return "unknown frame error";
}

}  // namespace iscsikit::iscsi
