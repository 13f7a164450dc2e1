// Atomicity of COMPARE AND WRITE, ORWRITE and WRITE ATOMIC(16) (SBC-3 §5.2 and §5.14, SBC-4
// §4.29): while one of them runs on a range of LBAs, no other command reads or writes those
// blocks, whichever session, connection or reactor thread it came from.
//
// The data path pays almost nothing for it while no such command is in flight: a command that
// accesses the medium counts itself in a counter of its thread's shard (one cache line per shard,
// shards by thread) and checks one flag; that is all. An atomic command raises the flag, waits
// until the counted commands have finished, and from then on, until the last atomic command is
// done, every medium-access command passes through a range check under a mutex: it runs at once
// unless it overlaps an atomic command (or an atomic command overlaps it), and waits in arrival
// order otherwise. A waiter resumes on its own reactor (IoEngine::post).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "core/callback.hpp"
#include "scsi/command.hpp"

namespace iscsikit {
class IoEngine;
}

namespace iscsikit::scsi::detail {

// [first, first + count) in logical blocks; the whole LU is {0, UINT64_MAX}.
struct LbaRange {
    std::uint64_t first = 0;
    std::uint64_t count = 0;
    bool overlaps(const LbaRange& other) const;
};

class ExtentLocks {
public:
    ExtentLocks() = default;
    ExtentLocks(const ExtentLocks&) = delete;
    ExtentLocks& operator=(const ExtentLocks&) = delete;

    // Before a medium-access command runs. True when it may run now (its entry is recorded in
    // `cmd.extent_hold`); false when it waits: `resume` then runs later, on `io`'s thread, once
    // it may. `exclusive`: an atomic command, which no other command on its range may overlap.
    bool enter(Command& cmd, IoEngine& io, const LbaRange& range, bool exclusive, Callback<void()> resume);
    // When the command that entered is complete (from complete()); lets waiters run.
    void leave(Command& cmd);
    // For a read whose data-in the transport sends from the store's own memory after the command
    // completes: the command's hold moves into the Hold returned, which the transport keeps until
    // those bytes have left (Command::data_in_hold), so no atomic command writes them meanwhile.
    Hold hand_over(Command& cmd);

private:
    static constexpr std::size_t kShards = 16;
    struct alignas(64) Shard {
        std::atomic<std::uint64_t> in_flight{0};
    };
    struct Entry {
        Command* cmd;
        LbaRange range;
        bool exclusive;
    };
    struct Waiter {
        Entry entry;
        IoEngine* io;
        Callback<void()> resume;
    };

    static std::uint8_t my_shard();
    void release(const Command* cmd, std::uint8_t hold);
    std::uint64_t counted_in_flight() const;
    bool may_run_locked(const Entry& entry, std::size_t waiting_ahead) const;
    // Moves the waiters that may run now into active_ and hands them to their reactors.
    void dispatch_locked(std::vector<Waiter>& ready);
    static void run(std::vector<Waiter>& ready);

    std::array<Shard, kShards> shards_{};
    // Atomic commands waiting or running; while non-zero, every command takes the slow path.
    alignas(64) std::atomic<std::uint32_t> exclusive_{0};
    std::mutex mutex_;
    std::vector<Entry> active_;   // commands admitted by the slow path and not yet done
    std::deque<Waiter> waiting_;  // in arrival order
};

}  // namespace iscsikit::scsi::detail
