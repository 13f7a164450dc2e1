// Backing-store failures of one LU as the daemon reports them: counted by kind, and logged once
// per change of state (the first failure after success, and one line when I/O succeeds again),
// not once per command. Readable from any thread; the data path pays one relaxed load per
// successful I/O while nothing has failed.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>

namespace iscsikit::scsi {

enum class StoreError : std::uint8_t { no_space, io, read_only, other };
inline constexpr std::size_t kStoreErrorKinds = 4;
StoreError classify_store_error(std::error_code ec);
// "ENOSPC", "EIO", "EROFS", "other": the metric's label values.
const char* store_error_name(StoreError kind);

class StoreHealth {
public:
    // A failure is "recovered" only after this long without one in the same direction, so a
    // store that fails some writes and not others (a full file system still overwrites allocated
    // blocks) is not logged as failing and recovering on every other command.
    static constexpr std::chrono::seconds kRecoveryQuiet{1};

    // `name` says which LU in the log ("target IQN LUN 0").
    explicit StoreHealth(std::string name) : name_(std::move(name)) {}

    // A backstore call failed with `ec` (a read, or a write: writes and unmaps).
    void failed(std::error_code ec, bool write);
    // A backstore call succeeded.
    void succeeded(bool write) {
        if (direction(write).failing.load(std::memory_order_relaxed)) maybe_recovered(write);
    }
    std::uint64_t errors(StoreError kind) const {
        return counts_[static_cast<std::size_t>(kind)].load(std::memory_order_relaxed);
    }
    bool failing() const {
        return reads_.failing.load(std::memory_order_relaxed) || writes_.failing.load(std::memory_order_relaxed);
    }

private:
    struct Direction {
        std::atomic<bool> failing{false};
        std::atomic<std::int64_t> last_failure_ns{0};  // steady clock
    };
    Direction& direction(bool write) { return write ? writes_ : reads_; }
    void maybe_recovered(bool write);

    std::string name_;
    std::array<std::atomic<std::uint64_t>, kStoreErrorKinds> counts_{};
    Direction reads_;
    Direction writes_;
};

}  // namespace iscsikit::scsi
