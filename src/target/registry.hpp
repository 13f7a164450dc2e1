// What the daemon serves and who is logged in: target nodes by name, and the session table that
// allocates TSIHs and reinstates a session when the same initiator logs in again with the same
// ISID (RFC 7143 §6.3.5). Shared by every reactor; touched only at login and logout.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "scsi/logical_unit.hpp"
#include "target/config.hpp"
#include "target/metrics.hpp"

namespace iscsikit::target {

// What a target serves, as one snapshot that never changes: its LUNs, each initiator's own map
// of them, and their counters. Live management publishes a new one whole (TargetNode::publish);
// a session keeps the snapshot its commands run against until the generation moves, and a
// command holds its snapshot until it ends, so a removed logical unit outlives its last command.
struct LunTable {
    std::shared_ptr<const scsi::Device> device;  // every LUN, numbered as the target numbers them
    // The LUN maps of initiators that have their own ([[target.initiator.lun]]), by name.
    std::map<std::string, std::shared_ptr<const scsi::Device>, std::less<>> initiator_devices;
    std::vector<std::pair<std::uint64_t, LunCounters*>> counters;  // by target LUN, ascending
    // What `initiator` sees: its own map, or the target's.
    const scsi::Device& device_for(std::string_view initiator) const;
    LunCounters* counters_of(std::uint64_t target_lun) const;
};

// The LUNs one session's commands run against: its target's LUN table as of `generation`, and
// this initiator's view of it. Made per session (its reference count is touched by that
// session's reactor alone); each task holds it until it ends, so a LUN removed meanwhile lives
// until its last command is done.
struct SessionLuns {
    std::shared_ptr<const LunTable> table;
    const scsi::Device* device = nullptr;
    std::uint64_t generation = 0;
};

struct TargetNode {
    std::string iqn;
    std::string alias;
    std::vector<PortalAddress> portals;
    std::uint16_t portal_group_tag = 1;
    std::shared_ptr<TargetCounters> counters;  // sessions, and per LUN commands (metrics)
    // Who may log in, with which CHAP credentials. Replaced whole by live management (read it
    // through Server::access_of, never directly, from a reactor).
    std::shared_ptr<const TargetAccess> access;
    // True when `portal` (as configured on a listening socket) serves this target.
    bool served_on(const PortalAddress& portal) const;

    // The LUN table as it is now, and a number that changes whenever it does (one load per
    // command tells a session whether its snapshot is still the current one).
    std::shared_ptr<const LunTable> luns() const;
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    void publish(std::shared_ptr<const LunTable> table);

private:
    mutable std::mutex luns_mutex_;
    std::shared_ptr<const LunTable> luns_;
    std::atomic<std::uint64_t> generation_{0};
};

// What management shows of a session (session ls).
struct SessionInfo {
    std::uint16_t tsih = 0;
    std::string initiator;
    std::uint64_t isid = 0;
    std::string target;  // empty: a discovery session
    std::string remote;  // the initiator's address
    std::string portal;  // the portal it came through
    std::string authentication;
    bool header_digest = false, data_digest = false;
    std::uint32_t max_recv_data_segment_length = 0;  // the initiator's
    std::uint32_t max_burst_length = 0, first_burst_length = 0;
    bool immediate_data = false, initial_r2t = false;
};

class SessionTable {
public:
    // Identifies a session for reinstatement: initiator name, ISID, target name.
    using Key = std::tuple<std::string, std::uint64_t, std::string>;
    // Closes a session from any thread (posts to its reactor).
    using Closer = std::function<void()>;
    // Aborts, on the session's reactor, the session's tasks on `unit` but `except`, then calls
    // `done` (PERSISTENT RESERVE OUT with PREEMPT AND ABORT; callable from any thread).
    using TaskAborter =
        std::function<void(const scsi::LogicalUnit* unit, const scsi::Command* except, std::function<void()> done)>;

    // Registers a new session and returns its TSIH (never 0), or nullopt when full. A registered
    // session with the same key is removed and its closer called: reinstatement.
    // `info` is what session ls shows (initiator, ISID and target come from the key).
    std::optional<std::uint16_t> add(const Key& key, Closer closer, SessionInfo info = {}, TaskAborter aborter = {});
    // The task aborters of the sessions whose key `pick` accepts (`pick` runs with the table locked).
    std::vector<TaskAborter> aborters(const std::function<bool(const Key&)>& pick) const;
    void remove(std::uint16_t tsih);
    bool contains(std::uint16_t tsih) const;
    std::size_t size() const;
    // Calls every closer (shutdown).
    void close_all();
    // Management: the sessions and what they negotiated, and closing one (false: no such session).
    std::vector<SessionInfo> list() const;
    bool close(std::uint16_t tsih);
    // Closes every session of target `iqn` (it is being removed); returns how many.
    std::size_t close_target(const std::string& iqn);

private:
    struct Entry {
        Key key;
        Closer closer;
        SessionInfo info;
        TaskAborter aborter;
    };
    mutable std::mutex mutex_;
    std::map<std::uint16_t, Entry> sessions_;
    std::uint16_t next_tsih_ = 1;
};

}  // namespace iscsikit::target
