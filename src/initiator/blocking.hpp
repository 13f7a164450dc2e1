// A synchronous wrapper for simple programs: a Session on its own thread, every call blocking
// until the answer is in. Not for the data path of fast tools (use the coroutine API there).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "initiator/scsi_ops.hpp"
#include "initiator/session.hpp"

namespace iscsikit::initiator {

class BlockingSession {
public:
    static Result<std::unique_ptr<BlockingSession>> connect(const Url& url, SessionOptions opts = {});
    ~BlockingSession();  // logs out if still logged in

    Result<Completion> execute(Command cmd);
    Result<scsi::parse::InquiryData> inquiry(std::uint64_t lun);
    Result<scsi::parse::Capacity> read_capacity(std::uint64_t lun);
    Result<std::vector<std::uint64_t>> report_luns();
    Result<void> read_blocks(std::uint64_t lun, std::uint64_t lba, std::uint32_t block_size, std::span<std::byte> buf);
    Result<void> write_blocks(std::uint64_t lun, std::uint64_t lba, std::uint32_t block_size,
                              std::span<const std::byte> data);
    Result<void> synchronize_cache(std::uint64_t lun);
    void logout();

    struct State;
    explicit BlockingSession(std::unique_ptr<State> state);

private:
    std::unique_ptr<State> state_;
};

Result<std::vector<DiscoveredTarget>> discover_blocking(const Url& url, SessionOptions opts = {});

}  // namespace iscsikit::initiator
