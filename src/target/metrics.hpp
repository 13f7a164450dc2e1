// The target's counters: what control/ renders as Prometheus metrics. Each reactor writes the
// command counters of a LUN in a shard of its own (one writer per shard: a relaxed load and store,
// no locked instruction, no cache line shared between cores); a scrape sums the shards. Nothing
// here allocates or locks after start-up.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "iscsi/pdu.hpp"

namespace iscsikit::target {

// What a SCSI command did, for counting: the READ family, the WRITE family, everything else.
enum class CommandKind : std::uint8_t { read, write, other };
inline constexpr std::size_t kCommandKinds = 3;
CommandKind command_kind(std::uint8_t opcode);
const char* command_kind_name(CommandKind kind);

// Upper bounds of the latency histogram's buckets, in nanoseconds (10 µs to 1 s); a last bucket
// (+Inf) takes the rest.
inline constexpr std::array<std::uint64_t, 16> kLatencyBoundsNs{
    10'000,    25'000,     50'000,     100'000,    250'000,     500'000,     1'000'000,   2'500'000,
    5'000'000, 10'000'000, 25'000'000, 50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000};
inline constexpr std::size_t kLatencyBuckets = kLatencyBoundsNs.size() + 1;

// The command counters of one LUN, summed over the reactors (what a scrape reads).
struct LunStats {
    struct PerKind {
        std::uint64_t commands = 0;
        std::uint64_t errors = 0;  // ended in CHECK CONDITION
        std::uint64_t bytes = 0;   // data read (read) or written (write) by commands that succeeded
        std::array<std::uint64_t, kLatencyBuckets> buckets{};  // not cumulative
        std::uint64_t duration_ns = 0;
    };
    std::array<PerKind, kCommandKinds> kinds{};
};

class LunCounters {
public:
    explicit LunCounters(std::size_t reactors);

    // On reactor `reactor` (its index), the only writer of that shard.
    void record(std::size_t reactor, CommandKind kind, bool check_condition, std::uint64_t bytes,
                std::chrono::nanoseconds duration) {
        auto& k = shards_[reactor < reactors_ ? reactor : 0].kinds[static_cast<std::size_t>(kind)];
        bump(k.commands, 1);
        if (check_condition) bump(k.errors, 1);
        if (bytes) bump(k.bytes, bytes);
        const auto ns = static_cast<std::uint64_t>(duration.count() < 0 ? 0 : duration.count());
        std::size_t bucket = 0;
        while (bucket < kLatencyBoundsNs.size() && ns > kLatencyBoundsNs[bucket]) ++bucket;
        bump(k.buckets[bucket], 1);
        bump(k.duration_ns, ns);
    }
    LunStats stats() const;

private:
    static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by) {
        counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }
    struct PerKind {
        std::atomic<std::uint64_t> commands{0};
        std::atomic<std::uint64_t> errors{0};
        std::atomic<std::uint64_t> bytes{0};
        std::array<std::atomic<std::uint64_t>, kLatencyBuckets> buckets{};
        std::atomic<std::uint64_t> duration_ns{0};
    };
    struct alignas(64) Shard {
        std::array<PerKind, kCommandKinds> kinds;
    };
    std::size_t reactors_;
    std::unique_ptr<Shard[]> shards_;
};

// Sessions of one target (or of discovery) and its events. Changed at login and logout and on
// the rare events, so plain shared atomics.
struct SessionCounters {
    std::atomic<std::int64_t> open{0};
    std::atomic<std::uint64_t> logins{0};  // sessions that reached the full feature phase
};

struct TargetCounters {
    explicit TargetCounters(std::size_t reactors) : reactors_(reactors) {}
    // The counters of the target's LUN `number`, made when the LUN is (at start or by live
    // management) and kept for the target's life: a LUN removed and added again counts on.
    // Locks; the data path reaches them through the target's LUN table (registry.hpp) instead.
    LunCounters& lun(std::uint64_t number);

    SessionCounters sessions;
    std::atomic<std::uint64_t> task_set_full{0};       // commands answered TASK SET FULL
    std::atomic<std::uint64_t> outside_cmd_window{0};  // commands ignored: CmdSN outside the window

private:
    std::size_t reactors_;
    std::mutex mutex_;
    std::map<std::uint64_t, std::unique_ptr<LunCounters>> luns_;
};

// Why a login failed, from its status class and detail (RFC 7143 §11.13.5): a small fixed set.
enum class LoginFailure : std::uint8_t {
    authentication,   // 0201
    authorization,    // 0202
    not_found,        // 0203, 0204
    initiator_error,  // every other 02xx
    target_error,     // 03xx
};
inline constexpr std::size_t kLoginFailures = 5;
LoginFailure login_failure(iscsi::LoginStatus status);
const char* login_failure_name(LoginFailure reason);

// What is not per target: discovery sessions, login failures (a login may fail before it names
// a target), TCP connections.
struct ServerCounters {
    void login_failed(iscsi::LoginStatus status) {
        login_failures[static_cast<std::size_t>(login_failure(status))].fetch_add(1, std::memory_order_relaxed);
    }

    SessionCounters discovery;
    std::array<std::atomic<std::uint64_t>, kLoginFailures> login_failures{};
    std::atomic<std::uint64_t> connections{0};  // accepted (and not refused) since start
};

}  // namespace iscsikit::target
