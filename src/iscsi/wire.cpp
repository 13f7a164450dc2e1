// Receive buffer and send batch shared by the target's and the initiator's connections.
#include "iscsi/wire.hpp"

#include <cstring>

#include "core/crc32c.hpp"
#include "iscsi/frame.hpp"

namespace iscsikit::iscsi {

ReceiveBuffer::ReceiveBuffer(std::size_t initial_capacity)
    : buf_(new std::byte[initial_capacity]), capacity_(initial_capacity) {}

ByteSpan ReceiveBuffer::space() {
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ == capacity_) {
        std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    return {buf_.get() + end_, capacity_ - end_};
}

tl::expected<std::optional<ReceivedPdu>, FrameError> ReceiveBuffer::next(const FrameLimits& limits) {
    if (end_ - begin_ < kBhsLength) return std::nullopt;
    std::byte* start = buf_.get() + begin_;
    Bhs bhs(ConstByteSpan(start, kBhsLength));
    auto layout = frame_layout(bhs, limits);
    if (!layout) return tl::unexpected(layout.error());
    const std::size_t total = kBhsLength + layout->remaining();
    if (end_ - begin_ < total) {
        if (total > capacity_) {  // bounded: 48 + 1020 + digests + MaxRecvDataSegmentLength
            std::unique_ptr<std::byte[]> bigger(new std::byte[total]);
            std::memcpy(bigger.get(), start, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
            buf_ = std::move(bigger);
            capacity_ = total;
        } else if (begin_ + total > capacity_) {
            std::memmove(buf_.get(), start, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        return std::nullopt;
    }
    const std::byte* p = start + kBhsLength;
    ConstByteSpan ahs(p, layout->ahs_length);
    p += layout->ahs_length;
    if (layout->header_digest) {
        // RFC 7143 §7.8: a header digest error means the PDU boundaries are lost (ERL 0).
        if (!header_digest_ok(bhs, ahs, p)) return tl::unexpected(FrameError::header_digest_mismatch);
        p += kDigestLength;
    }
    ReceivedPdu pdu{bhs, ahs, ConstByteSpan(p, layout->data_segment_length), true};
    if (layout->data_digest && layout->data_segment_length)
        pdu.data_digest_ok =
            data_digest_ok(ConstByteSpan(p, layout->padded_data_length), p + layout->padded_data_length);
    begin_ += total;
    return pdu;
}

bool SendBatch::add(const Bhs& header, ConstByteSpan data, bool header_digest, bool data_digest,
                    std::shared_ptr<const void> keep, FileRange file) {
    Outgoing out{};
    push_header(out, header, static_cast<std::uint32_t>(data.size()), header_digest);
    out.data = data;
    if (!data_digest && !data.empty()) out.file = file;
    const bool by_file = static_cast<bool>(out.file);
    const auto size = static_cast<std::uint32_t>(data.size());
    const std::uint32_t padding = pad4(size) - size;
    out.trailer.fill(std::byte{0});
    out.trailer_length = static_cast<std::uint8_t>(padding);
    if (data_digest && !data.empty()) {
        std::uint32_t crc = crc32c_update(kCrc32cInit, data);
        crc = crc32c_update(crc, ConstByteSpan(out.trailer.data(), padding));
        store_digest(out.trailer.data() + padding, crc32c_finish(crc));
        out.trailer_length = static_cast<std::uint8_t>(padding + kDigestLength);
    }
    out.keep = std::move(keep);
    pdus_.push_back(std::move(out));
    return by_file;
}

void SendBatch::clear() {
    headers_.clear();
    pdus_.clear();
}

void SendBatch::push_header(Outgoing& out, const Bhs& header, std::uint32_t data_length, bool header_digest) {
    Bhs bhs = header;
    bhs.set_total_ahs_length(0);
    bhs.set_data_segment_length(data_length);
    out.header_offset = headers_.size();
    out.header_length = kBhsLength + (header_digest ? kDigestLength : 0);
    headers_.insert(headers_.end(), bhs.data(), bhs.data() + kBhsLength);
    if (header_digest) {
        std::byte digest[kDigestLength];
        store_digest(digest, crc32c(bhs.span()));
        headers_.insert(headers_.end(), digest, digest + kDigestLength);
    }
}

void SendBatch::add_pieces(const Bhs& header, std::span<const ConstByteSpan> pieces, bool header_digest,
                           std::shared_ptr<const void> keep) {
    std::size_t total = 0;
    for (const auto& piece : pieces) total += piece.size();
    if (pieces.empty()) {
        add(header, {}, header_digest, false, std::move(keep));
        return;
    }
    // The header and the first piece, then each further piece as an entry with no header; the
    // last carries the padding. segments() writes them in order: one PDU on the wire.
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        Outgoing out{};
        if (i == 0) push_header(out, header, static_cast<std::uint32_t>(total), header_digest);
        out.data = pieces[i];
        out.trailer.fill(std::byte{0});
        out.keep = keep;
        pdus_.push_back(std::move(out));
    }
    const auto size = static_cast<std::uint32_t>(total);
    pdus_.back().trailer_length = static_cast<std::uint8_t>(pad4(size) - size);
}

void SendBatch::segments(std::vector<OutSegment>& out) const {
    for (const auto& pdu : pdus_) {
        if (pdu.header_length)
            out.push_back({ConstByteSpan(headers_.data() + pdu.header_offset, pdu.header_length), {}});
        if (!pdu.data.empty()) out.push_back({pdu.data, pdu.file});
        if (pdu.trailer_length) out.push_back({ConstByteSpan(pdu.trailer.data(), pdu.trailer_length), {}});
    }
}

}  // namespace iscsikit::iscsi
