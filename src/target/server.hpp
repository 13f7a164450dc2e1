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
    const std::vector<TargetNode>& targets() const { return targets_; }
    const TargetNode* find_target(std::string_view iqn) const;
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
    // The configured portal whose listening socket has this local address (nullopt: none, as for
    // a connection made before start()).
    std::optional<PortalAddress> portal_of(const asio::ip::tcp::endpoint& local) const;
    iscsi::LocalLimits local_limits(const TargetNode* node) const;
    // The I_T nexus of an initiator port (InitiatorName + ISID) on a target: stable across
    // logins, so unit attentions wait for the same initiator port that missed them.
    std::uint64_t nexus_id(const std::string& initiator, std::uint64_t isid, const std::string& target);
    bool stopping() const { return stopping_; }

    // Live connection bookkeeping (bounded by config().max_connections).
    void connection_opened(const std::shared_ptr<Connection>& c);
    void connection_closed(Connection* c);
    std::size_t connection_count() const { return connection_count_; }

    // The block caches of the LUNs that have one (cache=writethrough|writeback), named
    // "IQN LUN n": what SIGUSR1 logs and a management interface reads.
    struct CacheEntry {
        std::string name;
        const cache::CachedStore* cache;
    };
    const std::vector<CacheEntry>& caches() const { return caches_; }
    // One log line of counters per cache (SIGUSR1).
    void log_cache_stats() const;
    // What is counted beyond the targets' own counters (TargetNode::counters): discovery, login
    // failures, connections. control/ renders both as metrics.
    ServerCounters& counters() { return counters_; }
    const ServerCounters& counters() const { return counters_; }

private:
    void accept_on(std::size_t portal_index);
    // Hands `connection` to its reactor, keeping no strong reference on this thread: a Connection
    // is destroyed on its reactor, where its channel runs (~Connection touches the channel).
    void open_connection(Reactor& reactor, std::shared_ptr<Connection> connection);

    DaemonConfig config_;
    std::vector<TargetNode> targets_;
    std::vector<CacheEntry> caches_;
    ServerCounters counters_;
    SessionTable sessions_;
    ReactorPool reactors_;
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
    // Each listening socket's bound address and the portal it serves; written by start() before
    // the reactors run, read-only after.
    std::vector<std::pair<asio::ip::tcp::endpoint, PortalAddress>> listening_;
    LoginThrottle login_throttle_;
    mutable std::mutex manage_mutex_;  // config_'s access rules and every node's `access`
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
