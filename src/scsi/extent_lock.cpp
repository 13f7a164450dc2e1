#include "scsi/extent_lock.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/io_engine.hpp"

namespace iscsikit::scsi::detail {
namespace {

constexpr std::uint8_t kSlowPath = 0xff;

std::atomic<std::uint8_t> next_shard{0};

}  // namespace

bool LbaRange::overlaps(const LbaRange& other) const {
    if (count == 0 || other.count == 0) return false;
    // Ends saturate: the whole LU is {0, UINT64_MAX}.
    const std::uint64_t end = count > std::numeric_limits<std::uint64_t>::max() - first
                                  ? std::numeric_limits<std::uint64_t>::max()
                                  : first + count;
    const std::uint64_t other_end = other.count > std::numeric_limits<std::uint64_t>::max() - other.first
                                        ? std::numeric_limits<std::uint64_t>::max()
                                        : other.first + other.count;
    return first < other_end && other.first < end;
}

std::uint8_t ExtentLocks::my_shard() {
    thread_local const std::uint8_t shard =
        static_cast<std::uint8_t>(next_shard.fetch_add(1, std::memory_order_relaxed) % kShards);
    return shard;
}

std::uint64_t ExtentLocks::counted_in_flight() const {
    std::uint64_t total = 0;
    for (const Shard& s : shards_) total += s.in_flight.load(std::memory_order_seq_cst);
    return total;
}

bool ExtentLocks::enter(Command& cmd, IoEngine& io, const LbaRange& range, bool exclusive, Callback<void()> resume) {
    cmd.extent_locks = this;
    if (!exclusive) {
        // The fast path. Counting first and then checking the flag, against the atomic command's
        // raising the flag and then summing the counts (both sequentially consistent): at least
        // one of the two sees the other.
        const std::uint8_t shard = my_shard();
        shards_[shard].in_flight.fetch_add(1, std::memory_order_seq_cst);
        if (exclusive_.load(std::memory_order_seq_cst) == 0) {
            cmd.extent_hold = static_cast<std::uint8_t>(shard + 1);
            return true;
        }
        // An atomic command may have counted us already: uncount, and let it look again below.
        shards_[shard].in_flight.fetch_sub(1, std::memory_order_seq_cst);
    }
    std::vector<Waiter> ready;
    bool admitted = false;
    {
        std::lock_guard lock(mutex_);
        if (exclusive) exclusive_.fetch_add(1, std::memory_order_seq_cst);
        const Entry entry{&cmd, range, exclusive};
        cmd.extent_hold = kSlowPath;
        if (may_run_locked(entry, waiting_.size())) {
            active_.push_back(entry);
            admitted = true;
        } else {
            waiting_.push_back(Waiter{entry, &io, std::move(resume)});
        }
        dispatch_locked(ready);  // an uncounted fast-path command may have freed a waiter
    }
    run(ready);  // outside the mutex: an engine without a thread runs them at once
    return admitted;
}

void ExtentLocks::leave(Command& cmd) {
    const std::uint8_t hold = std::exchange(cmd.extent_hold, 0);
    cmd.extent_locks = nullptr;
    release(&cmd, hold);
}

Hold ExtentLocks::hand_over(Command& cmd) {
    const std::uint8_t hold = std::exchange(cmd.extent_hold, 0);
    cmd.extent_locks = nullptr;
    if (hold == 0) return {};
    // The Command outlives its data_in_hold, so its address still names its slow-path entry.
    return Hold([this, c = &cmd, hold] { release(c, hold); });
}

void ExtentLocks::release(const Command* cmd, std::uint8_t hold) {
    if (hold == 0) return;
    if (hold != kSlowPath) {
        shards_[hold - 1].in_flight.fetch_sub(1, std::memory_order_seq_cst);
        if (exclusive_.load(std::memory_order_seq_cst) == 0) return;
    }
    std::vector<Waiter> ready;
    {
        std::lock_guard lock(mutex_);
        if (hold == kSlowPath) {
            auto it = std::find_if(active_.begin(), active_.end(), [&](const Entry& e) { return e.cmd == cmd; });
            if (it != active_.end()) {
                if (it->exclusive) exclusive_.fetch_sub(1, std::memory_order_seq_cst);
                *it = active_.back();
                active_.pop_back();
            }
        }
        dispatch_locked(ready);
    }
    run(ready);
}

bool ExtentLocks::may_run_locked(const Entry& entry, std::size_t waiting_ahead) const {
    // An atomic command waits for every command counted by the fast path (whose ranges are not
    // known); no command is counted any more once exclusive_ is raised, so they only drain.
    if (entry.exclusive && counted_in_flight() != 0) return false;
    for (const Entry& a : active_)
        if ((entry.exclusive || a.exclusive) && entry.range.overlaps(a.range)) return false;
    // Nor does it overtake an earlier waiter it conflicts with (arrival order on a range).
    for (std::size_t i = 0; i < waiting_ahead; ++i) {
        const Entry& w = waiting_[i].entry;
        if ((entry.exclusive || w.exclusive) && entry.range.overlaps(w.range)) return false;
    }
    return true;
}

void ExtentLocks::dispatch_locked(std::vector<Waiter>& ready) {
    for (std::size_t i = 0; i < waiting_.size();) {
        if (may_run_locked(waiting_[i].entry, i)) {
            active_.push_back(waiting_[i].entry);
            ready.push_back(std::move(waiting_[i]));
            waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
            ++i;
        }
    }
}

void ExtentLocks::run(std::vector<Waiter>& ready) {
    for (Waiter& w : ready) w.io->post(std::move(w.resume));
    ready.clear();
}

}  // namespace iscsikit::scsi::detail
