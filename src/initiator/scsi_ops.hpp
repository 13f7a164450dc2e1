// SCSI helpers over a Session: each builds the CDB, runs it and turns a non-GOOD status into an
// Error whose message a person can read ("LBA out of range", "medium not present", "reservation
// conflict"): ILLEGAL REQUEST 25h/00h becomes no_such_lun, anything else scsi_error with the
// status and decoded sense attached.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "initiator/session.hpp"
#include "scsi/initiator_cdb.hpp"

namespace iscsikit::initiator {

// A Completion as an Error when it is not GOOD; the message names the operation:
// "READ(16) LBA 2048+8: LBA out of range (ILLEGAL REQUEST, ASC/ASCQ 21h/00h)".
Result<Completion> check(Result<Completion> done, const std::string& what);

asio::awaitable<Result<void>> test_unit_ready(Session& s, std::uint64_t lun);
asio::awaitable<Result<scsi::parse::InquiryData>> inquiry(Session& s, std::uint64_t lun);
// The raw page (for VPD callers that parse it themselves).
asio::awaitable<Result<std::vector<std::uint8_t>>> inquiry_vpd(Session& s, std::uint64_t lun, std::uint8_t page);
asio::awaitable<Result<scsi::parse::Capacity>> read_capacity(Session& s, std::uint64_t lun);
asio::awaitable<Result<std::vector<std::uint64_t>>> report_luns(Session& s);
// The Block Limits VPD page (B0h); a LUN that does not have it answers with an Error (scsi_error).
asio::awaitable<Result<scsi::parse::BlockLimits>> block_limits(Session& s, std::uint64_t lun);
// Whether the LUN's medium is write-protected (MODE SENSE(6), the WP bit).
asio::awaitable<Result<bool>> write_protected(Session& s, std::uint64_t lun);
// `buffer.size()` must be a multiple of block_size; blocks = size / block_size.
asio::awaitable<Result<void>> read_blocks(Session& s, std::uint64_t lun, std::uint64_t lba, std::uint32_t block_size,
                                          std::span<std::byte> buffer);
asio::awaitable<Result<void>> write_blocks(Session& s, std::uint64_t lun, std::uint64_t lba, std::uint32_t block_size,
                                           std::span<const std::byte> data, bool fua = false);
asio::awaitable<Result<void>> synchronize_cache(Session& s, std::uint64_t lun);
asio::awaitable<Result<void>> unmap(Session& s, std::uint64_t lun, std::span<const scsi::build::UnmapRange> ranges);

}  // namespace iscsikit::initiator
