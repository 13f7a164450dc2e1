// Fuzzes PDU framing: whatever bytes arrive, decode_pdu either refuses them with an error or
// yields a PDU that encodes and decodes back to itself (RFC 7143 §11.1 padding and digests).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "iscsi/frame.hpp"

using namespace iscsikit;
using namespace iscsikit::iscsi;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    // The first byte picks the receiver's settings: digests and MaxRecvDataSegmentLength.
    const std::uint8_t flags = data[0];
    static constexpr std::uint32_t kLimits[] = {0, 512, 8192, 262144};
    const FrameLimits limits{kLimits[(flags >> 2) & 3], (flags & 1) != 0, (flags & 2) != 0};
    const ConstByteSpan bytes(reinterpret_cast<const std::byte*>(data + 1), size - 1);

    auto decoded = decode_pdu(bytes, limits);
    if (!decoded) return 0;
    const Pdu& pdu = decoded->pdu;
    check(decoded->consumed <= bytes.size());
    check(pdu.data.size() <= limits.max_data_segment_length);
    check(pdu.data.size() == pdu.bhs.data_segment_length());
    check(pdu.ahs.size() == std::size_t{pdu.bhs.total_ahs_length()} * 4);

    std::vector<std::byte> wire;
    encode_pdu(pdu, limits.header_digest, limits.data_digest, wire);
    check(wire.size() == decoded->consumed);
    auto again = decode_pdu(wire, limits);
    check(again.has_value());
    check(again->consumed == wire.size());
    check(again->pdu.bhs == pdu.bhs);
    check(again->pdu.ahs == pdu.ahs);
    check(again->pdu.data == pdu.data);
    return 0;
}
