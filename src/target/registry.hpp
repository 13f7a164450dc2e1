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
};

class SessionTable {
public:
    // Identifies a session for reinstatement: initiator name, ISID, target name.
    using Key = std::tuple<std::string, std::uint64_t, std::string>;
    // Closes a session from any thread (posts to its reactor).
    using Closer = std::function<void()>;

    // Registers a new session and returns its TSIH (never 0), or nullopt when full. A registered
    // session with the same key is removed and its closer called: reinstatement.
    std::optional<std::uint16_t> add(const Key& key, Closer closer);
    void remove(std::uint16_t tsih);
    bool contains(std::uint16_t tsih) const;
    std::size_t size() const;
    // Calls every closer (shutdown).
    void close_all();

private:
    struct Entry {
        Key key;
        Closer closer;
    };
    mutable std::mutex mutex_;
    std::map<std::uint16_t, Entry> sessions_;
    std::uint16_t next_tsih_ = 1;
};

}  // namespace iscsikit::target
