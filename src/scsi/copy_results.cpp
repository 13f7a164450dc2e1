// RECEIVE COPY RESULTS(LID1) (SPC-4 §6.18): COPY STATUS of this I_T nexus's EXTENDED COPY
// commands, and the copy manager's OPERATING PARAMETERS; and the Third-party Copy VPD page
// (SPC-4 §7.8.17), which advertises the same limits. Both say what extended_copy.cpp enforces.
#include <algorithm>
#include <bit>
#include <mutex>
#include <vector>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

constexpr std::uint8_t kCopyStatus = 0x00;
constexpr std::uint8_t kOperatingParameters = 0x03;
// The descriptor type codes extended_copy.cpp takes, in ascending order: block device to block
// device (02h) and Identification descriptor CSCD (E4h).
constexpr std::uint8_t kDescriptorTypes[] = {0x02, 0xe4};

// DATA SEGMENT GRANULARITY (log2 of bytes): every copy moves whole blocks.
std::uint8_t data_segment_granularity(const LuState& lu) {
    return static_cast<std::uint8_t>(std::countr_zero(lu.block_size));
}

// SPC-4 §6.18 (COPY STATUS): the copy status of the command with the CDB's LIST IDENTIFIER on
// this I_T nexus. An ended command's status is discarded once it has been returned.
Flow copy_status(LuState& lu, Command& cmd, std::uint32_t allocation) {
    const std::uint8_t list_id = cmd.cdb[2];
    CopyStatus status;
    {
        std::lock_guard lock(lu.mutex);
        const auto nexus = lu.nexuses.find(cmd.nexus);
        if (nexus == lu.nexuses.end()) return fail(cmd, Sense::invalid_field_in_cdb(2));
        auto& copies = nexus->second.copies;
        const auto it =
            std::find_if(copies.begin(), copies.end(), [&](const CopyStatus& s) { return s.list_id == list_id; });
        // No EXTENDED COPY with that identifier runs, or ended unreported, on this nexus.
        if (it == copies.end()) return fail(cmd, Sense::invalid_field_in_cdb(2));
        status = *it;
        if (status.state != CopyStatus::State::in_progress && allocation != 0) copies.erase(it);
    }
    std::uint8_t* d = begin_data_in(cmd, 12);
    store_be32(d, 8);                                // AVAILABLE DATA
    d[4] = static_cast<std::uint8_t>(status.state);  // HDD 0: we hold no data to discard
    store_be16(d + 5, status.segments_processed);    // SEGMENTS PROCESSED
    // TRANSFER COUNT UNITS: bytes (00h), or kibibytes (01h), mebibytes (02h) ... when they do not fit.
    std::uint8_t units = 0;
    std::uint64_t count = status.bytes;
    for (; count > 0xffffffffu; count >>= 10) ++units;
    d[7] = units;
    store_be32(d + 8, static_cast<std::uint32_t>(count));  // TRANSFER COUNT
    return end_data_in(cmd, 12, allocation);
}

// SPC-4 §6.18 (OPERATING PARAMETERS).
Flow operating_parameters(LuState& lu, Command& cmd, std::uint32_t allocation) {
    const std::size_t length = 44 + sizeof(kDescriptorTypes);
    std::uint8_t* d = begin_data_in(cmd, length);
    store_be32(d, static_cast<std::uint32_t>(length - 4));  // AVAILABLE DATA
    d[4] = 0x01;                                            // SNLID: LIST ID USAGE 11b is supported
    store_be16(d + 8, kMaxCscdDescriptors);                 // MAXIMUM CSCD DESCRIPTOR COUNT
    store_be16(d + 10, kMaxSegmentDescriptors);             // MAXIMUM SEGMENT DESCRIPTOR COUNT
    store_be32(d + 12, kMaxDescriptorListBytes);            // MAXIMUM DESCRIPTOR LIST LENGTH
    store_be32(d + 16, kMaxCopySegmentBytes);               // MAXIMUM SEGMENT LENGTH
    // MAXIMUM INLINE DATA LENGTH, HELD DATA LIMIT, MAXIMUM STREAM DEVICE TRANSFER SIZE: 0.
    store_be16(d + 34, kMaxConcurrentCopies);                 // TOTAL CONCURRENT COPIES
    d[36] = static_cast<std::uint8_t>(kMaxConcurrentCopies);  // MAXIMUM CONCURRENT COPIES
    d[37] = data_segment_granularity(lu);
    // INLINE DATA GRANULARITY and HELD DATA GRANULARITY: 0, we take neither.
    d[43] = sizeof(kDescriptorTypes);  // IMPLEMENTED DESCRIPTOR LIST LENGTH
    std::copy(std::begin(kDescriptorTypes), std::end(kDescriptorTypes), d + 44);
    return end_data_in(cmd, length, allocation);
}

// SPC-4 §7.8.17.1: each third-party copy descriptor, TYPE and LENGTH then its body, padded to a
// multiple of four bytes.
void add_descriptor(std::vector<std::uint8_t>& page, std::uint16_t type, std::vector<std::uint8_t> body) {
    body.resize((body.size() + 3) & ~std::size_t{3}, 0);
    const std::size_t at = page.size();
    page.resize(at + 4);
    store_be16(&page[at], type);
    store_be16(&page[at + 2], static_cast<std::uint16_t>(body.size()));
    append(page, body.data(), body.size());
}

}  // namespace

Flow receive_copy_results(LuState& lu, Command& cmd, IoEngine&) {
    const std::uint32_t allocation = load_be32(&cmd.cdb[10]);
    if ((cmd.cdb[1] & 0x1f) == kCopyStatus) return copy_status(lu, cmd, allocation);
    return operating_parameters(lu, cmd, allocation);  // the opcode table offers no other
}

std::vector<std::uint8_t> third_party_copy_vpd(const LuState& lu) {
    std::vector<std::uint8_t> page{0x00, 0x8f, 0x00, 0x00};
    // §7.8.17.4 Supported Commands: EXTENDED COPY(LID1) and RECEIVE COPY RESULTS(LID1) with its
    // COPY STATUS and OPERATING PARAMETERS service actions.
    const std::vector<std::uint8_t> commands{0x83, 1, 0x00, 0x84, 2, kCopyStatus, kOperatingParameters};
    std::vector<std::uint8_t> body{static_cast<std::uint8_t>(commands.size())};
    append(body, commands.data(), commands.size());
    add_descriptor(page, 0x0001, std::move(body));
    // §7.8.17.5 Parameter Data: the limits of one parameter list; no inline data.
    body.assign(28, 0);
    store_be16(&body[4], kMaxCscdDescriptors);
    store_be16(&body[6], kMaxSegmentDescriptors);
    store_be32(&body[8], kMaxDescriptorListBytes);
    add_descriptor(page, 0x0004, std::move(body));
    // §7.8.17.6 Supported Descriptors.
    body.assign(1, sizeof(kDescriptorTypes));
    append(body, kDescriptorTypes, sizeof(kDescriptorTypes));
    add_descriptor(page, 0x0008, std::move(body));
    // §7.8.17.7 Supported CSCD Descriptor IDs: none beyond the indexes into the CSCD list.
    add_descriptor(page, 0x000c, std::vector<std::uint8_t>(2, 0));
    // §7.8.17.10 General Copy Operations, as OPERATING PARAMETERS says them.
    body.assign(32, 0);
    store_be32(&body[0], kMaxConcurrentCopies);  // TOTAL CONCURRENT COPIES
    store_be32(&body[4], kMaxConcurrentCopies);  // MAXIMUM IDENTIFIED CONCURRENT COPIES
    store_be32(&body[8], kMaxCopySegmentBytes);  // MAXIMUM SEGMENT LENGTH
    body[12] = data_segment_granularity(lu);     // INLINE DATA GRANULARITY 0: none taken
    add_descriptor(page, 0x8001, std::move(body));
    store_be16(&page[2], static_cast<std::uint16_t>(page.size() - 4));
    return page;
}

}  // namespace iscsikit::scsi::detail
