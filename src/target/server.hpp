// The target daemon's top object: builds the logical units from the configuration, listens on
// every portal, places connections on reactors, and shuts down in order.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <memory>
#include <string_view>
#include <vector>

#include <asio/ip/tcp.hpp>

#include "iscsi/params.hpp"
#include "iscsi/transport.hpp"
#include "cache/cached_store.hpp"
#include "target/config.hpp"
#include "core/reactor.hpp"
#include "target/login_throttle.hpp"
#include "target/metrics.hpp"
#include "target/registry.hpp"

namespace iscsikit::target {

class Connection;

class Server {
public:
    // Opens every backstore; throws std::runtime_error with a message naming the LUN on failure.
    explicit Server(DaemonConfig config);
    ~Server();

    // Binds every portal (throws with the address on failure) and starts the reactors.
    void start();
    // Graceful stop (SIGINT/SIGTERM): stop accepting, ask initiators to log out, let in-flight
    // commands finish for up to `grace`, close every connection, flush every LU.
    void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

    const DaemonConfig& config() const { return config_; }
    // The addresses the portals are bound to (a portal with port 0 gets one from the kernel).
    std::vector<asio::ip::tcp::endpoint> bound_endpoints() const;
    // The in-process seam: a connection to the first portal over an in-memory pipe instead of
    // TCP, placed on a reactor like an accepted socket. Returns the initiator's end, whose
    // completions run on `client`. Tests use it to speak raw PDUs with no socket in between.
    std::unique_ptr<iscsi::ByteTransport> connect_in_process(asio::any_io_executor client);
    // The targets as they are now (live management adds and removes them); a node stays valid
    // for as long as it is held, after its removal too.
    std::vector<std::shared_ptr<const TargetNode>> targets() const;
    std::shared_ptr<const TargetNode> find_target(std::string_view iqn) const;
    SessionTable& sessions() { return sessions_; }
    LoginThrottle& login_throttle() { return login_throttle_; }
    // A target's access rules as they are now (live management may replace them).
    std::shared_ptr<const TargetAccess> access_of(const TargetNode& node) const;

    // ---- live management (manage.cpp), callable from any thread ----
    // The configuration as it runs now: what save writes.
    DaemonConfig running_config() const;
    // Applies `change` to a copy of target `iqn`'s access rules; validated like a configuration
    // file before it replaces the live rules (the next login sees them). Nothing changes on error.
    Result<void> change_access(const std::string& iqn, const std::function<Result<void>(TargetAccess&)>& change);
    // SIGHUP: applies what differs between the running configuration and `fresh` where that can
    // be done live (access rules); returns what it applied and what only a restart applies.
    struct Reload {
        std::vector<std::string> applied, needs_restart;
    };
    Reload reload(const DaemonConfig& fresh);
    // Targets and LUNs while serving (docs/management.md). Each is validated against the whole
    // running configuration first and changes nothing when it fails.
    // A new target: its portals start listening, its LUNs are opened.
    Result<void> add_target(TargetSpec spec);
    // Closes the target's sessions, then stops serving it (its portals keep listening).
    Result<void> remove_target(const std::string& iqn);
    // A new LUN (spec.lun: its number); every initiator of the target gets REPORTED LUNS DATA HAS
    // CHANGED (3Fh/0Eh). Returns the LUN number.
    Result<std::uint64_t> add_lun(const std::string& iqn, LunSpec spec);
    // The LUN disappears from REPORT LUNS (3Fh/0Eh as above) and from every initiator's map;
    // commands already running on it finish, then its store is flushed and closed.
    Result<void> remove_lun(const std::string& iqn, std::uint64_t lun);
    // Grows the LUN's store to `size` bytes; its initiators get CAPACITY DATA HAS CHANGED (2Ah/09h).
    Result<void> resize_lun(const std::string& iqn, std::uint64_t lun, std::uint64_t size);
    // Implicit ALUA (SPC-4 §5.15): the asymmetric access state of the LUN's target port group;
    // on a change its initiators get ASYMMETRIC ACCESS STATE CHANGED (2Ah/06h). Not saved: a
    // restart starts every LUN active/optimized.
    Result<void> set_access_state(const std::string& iqn, std::uint64_t lun, scsi::AccessState state);
    // The configured portal whose listening socket has this local address (nullopt: none, as for
    // a connection made before start()).
    std::optional<PortalAddress> portal_of(const asio::ip::tcp::endpoint& local) const;
    iscsi::LocalLimits local_limits(const TargetNode* node) const;
    // The I_T nexus of an initiator port (InitiatorName + ISID) on a target: stable across
    // logins, so unit attentions wait for the same initiator port that missed them.
    std::uint64_t nexus_id(const std::string& initiator, std::uint64_t isid, const std::string& target);
    // PREEMPT AND ABORT (scsi::LogicalUnit::TaskAborter): aborts `unit`'s tasks from `nexuses` in
    // every session on them, each on its reactor, then calls `done` from the last to finish.
    void abort_tasks(const scsi::LogicalUnit& unit, const std::vector<std::uint64_t>& nexuses,
                     const scsi::Command* except, const std::function<void()>& done);
    bool stopping() const { return stopping_; }

    // Live connection bookkeeping (bounded by config().max_connections).
    void connection_opened(const std::shared_ptr<Connection>& c);
    void connection_closed(Connection* c);
    std::size_t connection_count() const { return connection_count_; }

    // One log line of counters per block cache (cache=writethrough|writeback; SIGUSR1).
    void log_cache_stats() const;
    // What is counted beyond the targets' own counters (TargetNode::counters): discovery, login
    // failures, connections. control/ renders both as metrics.
    ServerCounters& counters() { return counters_; }
    const ServerCounters& counters() const { return counters_; }

private:
    // Target `iqn`'s running spec and node (manage_mutex_ held), or the error that says there is none.
    struct Found {
        TargetSpec* spec;
        std::shared_ptr<TargetNode> node;
    };
    Result<Found> find_locked(const std::string& iqn);
    // Reload's record of one change: what, and whether it applied.
    using Note = std::function<void(const std::string&, Result<void>)>;
    void reload_size(const std::string& iqn, const LunSpec& running, const LunSpec& fresh, const Note& note,
                     Reload& report);
    Result<std::shared_ptr<TargetNode>> make_node(const TargetSpec& spec);
    Result<std::shared_ptr<scsi::LogicalUnit>> make_unit(const TargetSpec& target, const LunSpec& lun);
    static std::shared_ptr<const LunTable> make_table(
        const TargetNode& node, const TargetSpec& spec,
        const std::map<std::uint64_t, std::shared_ptr<scsi::LogicalUnit>>& units);
    // Listens on every portal of `portals` not listened on yet: all of them, or none (the error).
    Result<void> listen_on(const std::vector<PortalAddress>& portals);
    static void flush_unit(const TargetNode& node, std::uint64_t lun, scsi::LogicalUnit& unit);
    void accept_on(asio::ip::tcp::acceptor& acceptor);
    // Hands `connection` to its reactor, keeping no strong reference on this thread: a Connection
    // is destroyed on its reactor, where its channel runs (~Connection touches the channel).
    void open_connection(Reactor& reactor, std::shared_ptr<Connection> connection);

    DaemonConfig config_;
    std::vector<std::shared_ptr<TargetNode>> targets_;  // guarded by manage_mutex_
    ServerCounters counters_;
    SessionTable sessions_;
    ReactorPool reactors_;
    mutable std::mutex portal_mutex_;  // acceptors_ and listening_ (new targets add portals)
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
    // Each listening socket's bound address and the portal it serves; reactors read it at login.
    std::vector<std::pair<asio::ip::tcp::endpoint, PortalAddress>> listening_;
    LoginThrottle login_throttle_;
    // config_, targets_ and every node's `access`; held across a whole management change, so
    // that changes apply one after another.
    mutable std::mutex manage_mutex_;
    std::mutex nexus_mutex_;
    std::map<std::tuple<std::string, std::uint64_t, std::string>, std::uint64_t> nexus_ids_;
    std::atomic<std::size_t> connection_count_{0};
    std::atomic<bool> stopping_{false};
    std::mutex live_mutex_;
    // The address identifies the entry without locking the weak_ptr: a lock() here could make
    // this thread the last owner of another reactor's Connection.
    struct Live {
        const Connection* raw;
        std::weak_ptr<Connection> weak;
    };
    std::vector<Live> live_;
};

}  // namespace iscsikit::target
