#include "initiator/scsi_ops.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "scsi/sense_decode.hpp"

namespace iscsikit::initiator {

namespace {

constexpr std::uint16_t kInquiryAllocation = 255;  // SPC-4 6.6.1: fits the 1-byte SCSI-2 field too
constexpr std::uint32_t kReportLunsAllocation = 64 << 10;
constexpr std::uint32_t kReportLunsMaxAllocation = 16 << 20;  // 2M LUNs: far beyond any real target
constexpr std::uint32_t kReadCapacityAllocation = 32;         // SBC-3 5.16.2
constexpr std::uint8_t kModeSenseAllocation = 255;            // the header is all we read

// The Error for a non-GOOD completion; `what` names the operation ("READ(16) LBA 2048+8 on LUN 0").
Error completion_error(const Completion& done, const std::string& what) {
    auto sense = scsi::decode_sense(done.sense);
    Error e;
    // SPC-4 Annex D: 25h/00h LOGICAL UNIT NOT SUPPORTED.
    const bool no_lun =
        sense && sense->key == scsi::SenseKey::illegal_request && sense->asc == 0x25 && sense->ascq == 0;
    e.kind = no_lun ? ErrorKind::no_such_lun : ErrorKind::scsi_error;
    e.message = what + ": " + scsi::describe_status(done.status, sense);
    e.status = static_cast<std::uint8_t>(done.status);
    e.sense = sense;
    return e;
}

// check() for the data path: the message is only built when the command failed, so a GOOD
// completion costs no allocation.
template <class Describe>
Result<Completion> check_lazy(Result<Completion> done, Describe&& what) {
    if (!done || done->good()) return done;
    return tl::unexpected(completion_error(*done, what()));
}

Result<void> as_void(const Result<Completion>& done) {
    if (!done) return tl::unexpected(done.error());
    return {};
}

tl::unexpected<Error> short_data(const std::string& what, std::size_t got) {
    return fail(ErrorKind::protocol_error,
                fmt::format("{}: the target returned {} bytes, too few to parse", what, got));
}

Command read_command(std::uint64_t lun, const scsi::Cdb& cdb, std::span<std::byte> buffer) {
    Command cmd;
    cmd.lun = lun;
    cmd.cdb = cdb;
    cmd.direction = DataDirection::read;
    cmd.read_buffer = buffer;
    return cmd;
}

// A command that returns at most `allocation` bytes of parameter data: the bytes that came back.
asio::awaitable<Result<std::vector<std::uint8_t>>> read_data(Session& s, std::uint64_t lun, scsi::Cdb cdb,
                                                             std::size_t allocation, const std::string& what) {
    std::vector<std::uint8_t> data(allocation);
    const Command cmd = read_command(lun, cdb, std::as_writable_bytes(std::span(data)));
    auto answer = co_await s.execute(cmd);
    auto done = check(std::move(answer), what);
    if (!done) co_return tl::unexpected(done.error());
    data.resize(std::min(done->transferred, data.size()));
    co_return data;
}

// A command without data.
asio::awaitable<Result<void>> no_data(Session& s, std::uint64_t lun, scsi::Cdb cdb, const std::string& what) {
    Command cmd;
    cmd.lun = lun;
    cmd.cdb = cdb;
    auto done = co_await s.execute(cmd);
    co_return as_void(check(std::move(done), what));
}

// read_data, then `parse` over the bytes that came back (nullopt from it: too short to parse).
template <class T>
asio::awaitable<Result<T>> read_parsed(Session& s, std::uint64_t lun, scsi::Cdb cdb, std::size_t allocation,
                                       const std::string& what,
                                       std::optional<T> (*parse)(std::span<const std::uint8_t>)) {
    auto data = co_await read_data(s, lun, cdb, allocation, what);
    if (!data) co_return tl::unexpected(data.error());
    auto parsed = parse(*data);
    if (!parsed) co_return short_data(what, data->size());
    co_return std::move(*parsed);
}

}  // namespace

Result<Completion> check(Result<Completion> done, const std::string& what) {
    return check_lazy(std::move(done), [&] { return what; });
}

asio::awaitable<Result<void>> test_unit_ready(Session& s, std::uint64_t lun) {
    const std::string what = fmt::format("TEST UNIT READY on LUN {}", lun);
    auto done = co_await no_data(s, lun, scsi::build::test_unit_ready(), what);
    co_return done;
}

asio::awaitable<Result<scsi::parse::InquiryData>> inquiry(Session& s, std::uint64_t lun) {
    const std::string what = fmt::format("INQUIRY on LUN {}", lun);
    const auto cdb = scsi::build::inquiry(kInquiryAllocation);
    auto parsed = co_await read_parsed(s, lun, cdb, kInquiryAllocation, what, scsi::parse::inquiry);
    co_return parsed;
}

asio::awaitable<Result<std::vector<std::uint8_t>>> inquiry_vpd(Session& s, std::uint64_t lun, std::uint8_t page) {
    const std::string what = fmt::format("INQUIRY VPD page {:02x}h on LUN {}", page, lun);
    const auto cdb = scsi::build::inquiry(kInquiryAllocation, page);
    auto data = co_await read_data(s, lun, cdb, kInquiryAllocation, what);
    co_return data;
}

asio::awaitable<Result<scsi::parse::Capacity>> read_capacity(Session& s, std::uint64_t lun) {
    const std::string what = fmt::format("READ CAPACITY(16) on LUN {}", lun);
    const auto cdb = scsi::build::read_capacity16(kReadCapacityAllocation);
    auto parsed = co_await read_parsed(s, lun, cdb, kReadCapacityAllocation, what, scsi::parse::read_capacity16);
    co_return parsed;
}

asio::awaitable<Result<scsi::parse::BlockLimits>> block_limits(Session& s, std::uint64_t lun) {
    const std::string what = fmt::format("INQUIRY VPD page b0h on LUN {}", lun);
    const auto cdb = scsi::build::inquiry(kInquiryAllocation, 0xb0);
    auto parsed = co_await read_parsed(s, lun, cdb, kInquiryAllocation, what, scsi::parse::block_limits);
    co_return parsed;
}

asio::awaitable<Result<bool>> write_protected(Session& s, std::uint64_t lun) {
    const std::string what = fmt::format("MODE SENSE(6) on LUN {}", lun);
    const auto cdb = scsi::build::mode_sense6(kModeSenseAllocation);
    auto parsed =
        co_await read_parsed(s, lun, cdb, kModeSenseAllocation, what, scsi::parse::mode_sense6_write_protected);
    co_return parsed;
}

asio::awaitable<Result<std::vector<std::uint64_t>>> report_luns(Session& s) {
    const std::string what = "REPORT LUNS";
    std::uint32_t allocation = kReportLunsAllocation;
    for (;;) {
        // SPC-4 6.33: REPORT LUNS is addressed to LUN 0, which must answer it even when unpopulated.
        const auto cdb = scsi::build::report_luns(allocation);
        auto data = co_await read_data(s, 0, cdb, allocation, what);
        if (!data) co_return tl::unexpected(data.error());
        const std::span<const std::uint8_t> got(*data);
        if (got.size() < 8) co_return short_data(what, got.size());
        // SPC-4 6.33.2: LUN LIST LENGTH counts the bytes after the 8-byte header.
        const std::uint64_t needed = 8 + std::uint64_t{load_be32(got.data())};
        if (needed > allocation && allocation < kReportLunsMaxAllocation) {
            allocation = static_cast<std::uint32_t>(std::min<std::uint64_t>(needed, kReportLunsMaxAllocation));
            continue;  // the list did not fit: ask again with room for all of it
        }
        auto luns = scsi::parse::report_luns(got);
        if (!luns) co_return short_data(what, got.size());
        co_return std::move(*luns);
    }
}

asio::awaitable<Result<void>> read_blocks(Session& s, std::uint64_t lun, std::uint64_t lba, std::uint32_t block_size,
                                          std::span<std::byte> buffer) {
    if (block_size == 0 || buffer.size() % block_size != 0)
        co_return fail(
            ErrorKind::invalid_argument,
            fmt::format("read of {} bytes is not a whole number of {}-byte blocks", buffer.size(), block_size));
    const auto blocks = static_cast<std::uint32_t>(buffer.size() / block_size);
    const Command cmd = read_command(lun, scsi::build::read16(lba, blocks), buffer);
    auto answer = co_await s.execute(cmd);
    auto done =
        check_lazy(std::move(answer), [&] { return fmt::format("READ(16) LBA {}+{} on LUN {}", lba, blocks, lun); });
    // RFC 7143 §11.4.5: a GOOD read with an underflow residual left part of the buffer unwritten.
    if (done && done->underflow && done->residual > 0)
        co_return fail(ErrorKind::protocol_error,
                       fmt::format("READ(16) LBA {}+{} on LUN {}: GOOD status but {} of {} bytes missing", lba, blocks,
                                   lun, done->residual, buffer.size()));
    co_return as_void(done);
}

asio::awaitable<Result<void>> write_blocks(Session& s, std::uint64_t lun, std::uint64_t lba, std::uint32_t block_size,
                                           std::span<const std::byte> data, bool fua) {
    if (block_size == 0 || data.size() % block_size != 0)
        co_return fail(
            ErrorKind::invalid_argument,
            fmt::format("write of {} bytes is not a whole number of {}-byte blocks", data.size(), block_size));
    const auto blocks = static_cast<std::uint32_t>(data.size() / block_size);
    Command cmd;
    cmd.lun = lun;
    cmd.cdb = scsi::build::write16(lba, blocks, fua);
    cmd.direction = DataDirection::write;
    cmd.write_data = data;
    auto done = co_await s.execute(cmd);
    co_return as_void(
        check_lazy(std::move(done), [&] { return fmt::format("WRITE(16) LBA {}+{} on LUN {}", lba, blocks, lun); }));
}

asio::awaitable<Result<void>> synchronize_cache(Session& s, std::uint64_t lun) {
    const std::string what = fmt::format("SYNCHRONIZE CACHE(16) on LUN {}", lun);
    auto done = co_await no_data(s, lun, scsi::build::synchronize_cache16(), what);
    co_return done;
}

asio::awaitable<Result<void>> unmap(Session& s, std::uint64_t lun, std::span<const scsi::build::UnmapRange> ranges) {
    const auto parameters = scsi::build::unmap_parameters(ranges);
    if (parameters.size() > 0xffff)  // SBC-3 5.28: PARAMETER LIST LENGTH is 16 bits
        co_return fail(ErrorKind::invalid_argument,
                       fmt::format("UNMAP of {} ranges does not fit one command", ranges.size()));
    Command cmd;
    cmd.lun = lun;
    cmd.cdb = scsi::build::unmap(static_cast<std::uint16_t>(parameters.size()));
    cmd.direction = DataDirection::write;
    cmd.write_data = std::as_bytes(std::span(parameters));
    auto done = co_await s.execute(cmd);
    co_return as_void(check_lazy(std::move(done), [&] {
        if (ranges.size() == 1) return fmt::format("UNMAP LBA {}+{} on LUN {}", ranges[0].lba, ranges[0].blocks, lun);
        return fmt::format("UNMAP of {} ranges on LUN {}", ranges.size(), lun);
    }));
}

}  // namespace iscsikit::initiator
