// The socket-facing halves of framing that both roles share (RFC 7143 §11.1, §12.1): a receive
// buffer that yields whole, checked PDUs in place, and a batch of outgoing PDUs gathered for one
// write with their header digests, padding and data digests. No I/O here: the connection reads
// into space() and writes buffers().
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <tl/expected.hpp>

#include "iscsi/frame.hpp"
#include "iscsi/pdu.hpp"
#include "iscsi/transport.hpp"

namespace iscsikit::iscsi {

// A PDU as it sits in the receive buffer: views valid until the next call on the buffer.
struct ReceivedPdu {
    Bhs bhs;
    ConstByteSpan ahs;
    ConstByteSpan data;          // unpadded data segment
    bool data_digest_ok = true;  // false: RFC 7143 §7.8, the PDU is to be discarded (and rejected)
};

class ReceiveBuffer {
public:
    explicit ReceiveBuffer(std::size_t initial_capacity = std::size_t{256} * 1024);

    // Room to read into (never empty): compacts when the tail is full.
    ByteSpan space();
    // At most `limit` bytes of room (reads that must not run far past a PDU's header).
    ByteSpan space(std::size_t limit) {
        auto room = space();
        return room.first(std::min(room.size(), limit));
    }
    void commit(std::size_t n) { end_ += n; }
    // The bytes received and not consumed yet, and consuming some of them.
    ConstByteSpan available() const { return {buf_.get() + begin_, end_ - begin_}; }
    void consume(std::size_t n) { begin_ += n; }

    // The next complete PDU; nullopt when more bytes are needed (the buffer grows, bounded by
    // limits, when one PDU needs more room). A data segment longer than the limit and a header
    // digest mismatch are errors after which the stream cannot be trusted.
    tl::expected<std::optional<ReceivedPdu>, FrameError> next(const FrameLimits& limits);

private:
    std::unique_ptr<std::byte[]> buf_;
    std::size_t capacity_, begin_ = 0, end_ = 0;
};

class SendBatch {
public:
    // Queues one PDU; TotalAHSLength is cleared and DataSegmentLength set from `data`. `data` must
    // stay valid until the batch is cleared, unless `keep` owns it. `file` says where `data` also
    // lies in a file (the transport may send it from there); with a data digest it is not used:
    // the digest is of `data`, and a file page could change between the two reads. Returns
    // whether the PDU names the file.
    bool add(const Bhs& header, ConstByteSpan data, bool header_digest, bool data_digest,
             std::shared_ptr<const void> keep = {}, FileRange file = {});
    // Queues one PDU whose data segment is `pieces` in order (cache pages gathered into one
    // Data-In), written with no copy; no data digest (it would have to read them here).
    void add_pieces(const Bhs& header, std::span<const ConstByteSpan> pieces, bool header_digest,
                    std::shared_ptr<const void> keep = {});
    bool empty() const { return pdus_.empty(); }
    std::size_t size() const { return pdus_.size(); }
    void clear();
    // Appends the ranges to write, in order (valid until the batch changes).
    void segments(std::vector<OutSegment>& out) const;

private:
    struct Outgoing {
        std::size_t header_offset;
        std::size_t header_length;
        ConstByteSpan data;
        FileRange file;
        std::uint8_t trailer_length;
        std::array<std::byte, 8> trailer;
        std::shared_ptr<const void> keep;
    };
    // Appends the header (TotalAHSLength 0, DataSegmentLength `data_length`, and its digest) and
    // points `out` at it.
    void push_header(Outgoing& out, const Bhs& header, std::uint32_t data_length, bool header_digest);

    std::vector<std::byte> headers_;
    std::vector<Outgoing> pdus_;
};

}  // namespace iscsikit::iscsi
