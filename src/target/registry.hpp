// What the daemon serves and who is logged in: target nodes by name, and the session table that
// allocates TSIHs and reinstates a session when the same initiator logs in again with the same
// ISID (RFC 7143 §6.3.5). Shared by every reactor; touched only at login and logout.
#pragma once

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

struct TargetNode {
    std::string iqn;
    std::string alias;
    std::vector<PortalAddress> portals;
    std::uint16_t portal_group_tag = 1;
    std::shared_ptr<scsi::Device> device;
    std::shared_ptr<TargetCounters> counters;  // sessions, and per LUN commands (metrics)
    // Who may log in, with which CHAP credentials. Replaced whole by live management (read it
    // through Server::access_of, never directly, from a reactor).
    std::shared_ptr<const TargetAccess> access;
    // The LUN maps of initiators that have their own ([[target.initiator.lun]]), by name.
    std::map<std::string, std::shared_ptr<scsi::Device>, std::less<>> initiator_devices;
    // What `initiator` sees: its own map, or the target's.
    scsi::Device* device_for(std::string_view initiator) const;
    // True when `portal` (as configured on a listening socket) serves this target.
    bool served_on(const PortalAddress& portal) const;
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

    // Registers a new session and returns its TSIH (never 0), or nullopt when full. A registered
    // session with the same key is removed and its closer called: reinstatement.
    // `info` is what session ls shows (initiator, ISID and target come from the key).
    std::optional<std::uint16_t> add(const Key& key, Closer closer, SessionInfo info = {});
    void remove(std::uint16_t tsih);
    bool contains(std::uint16_t tsih) const;
    std::size_t size() const;
    // Calls every closer (shutdown).
    void close_all();
    // Management: the sessions and what they negotiated, and closing one (false: no such session).
    std::vector<SessionInfo> list() const;
    bool close(std::uint16_t tsih);

private:
    struct Entry {
        Key key;
        Closer closer;
        SessionInfo info;
    };
    mutable std::mutex mutex_;
    std::map<std::uint16_t, Entry> sessions_;
    std::uint16_t next_tsih_ = 1;
};

}  // namespace iscsikit::target
