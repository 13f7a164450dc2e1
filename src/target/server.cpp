#include "target/server.hpp"

#include <algorithm>
#include <csignal>
#include <functional>
#include <future>
#include <stdexcept>
#include <thread>

#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "backstore/backstore.hpp"
#include "target/connection.hpp"
#include "target/session.hpp"

namespace iscsikit::target {

namespace {

Result<std::unique_ptr<backstore::Backstore>> open_backstore(const LunSpec& spec) {
    backstore::Options options;
    options.block_size = spec.block_size;
    options.read_only = spec.read_only;
    options.thin = spec.thin;
    options.removable = spec.removable;
    options.size = spec.size;
    // Every cache but the kernel's reads the store with O_DIRECT: no block is cached twice.
    options.direct = spec.cache != LunSpec::Cache::kernel;
    Result<std::unique_ptr<backstore::Backstore>> store = fail("unknown backstore kind");
    switch (spec.kind) {
        case LunSpec::Kind::ram: store = backstore::make_ram(options); break;
        case LunSpec::Kind::file: store = backstore::open_file(spec.path, options); break;
        case LunSpec::Kind::blockdev: store = backstore::open_block_device(spec.path, options); break;
    }
    if (!store || !spec.own_cache()) return store;
    cache::CacheOptions cache;
    cache.mode = spec.cache == LunSpec::Cache::writeback ? cache::WriteMode::writeback : cache::WriteMode::writethrough;
    cache.size_bytes = spec.cache_bytes();
    return std::unique_ptr<backstore::Backstore>(std::make_unique<cache::CachedStore>(std::move(*store), cache));
}

scsi::LuIdentity make_identity(const TargetSpec& target, std::size_t lun, std::uint16_t tpgt) {
    scsi::LuIdentity id;
    const auto h = std::hash<std::string>{}(target.iqn + "/" + std::to_string(lun));
    id.serial = fmt::format("{:016x}", h);
    // NAA 5 (IEEE Registered): 4-bit NAA, then 60 bits derived from the target and LUN.
    id.naa = (std::uint64_t{5} << 60) | (h & 0x0fffffffffffffffull);
    id.target_port_name = fmt::format("{},t,0x{:04x}", target.iqn, tpgt);
    id.relative_target_port = tpgt;
    id.target_port_group = tpgt;
    id.log_name = fmt::format("target {} LUN {}", target.iqn, lun);
    id.target_lun = lun;
    return id;
}

}  // namespace

Result<std::shared_ptr<scsi::LogicalUnit>> Server::make_unit(const TargetSpec& target, const LunSpec& lun) {
    auto store = open_backstore(lun);
    if (!store)
        return fail(
            fmt::format("target {} LUN {} ({}): {}", target.iqn, lun.lun, lun.to_string(), store.error().message));
    auto identity = make_identity(target, lun.lun, 1);
    identity.removable = lun.removable;
    identity.thin = lun.thin;
    identity.sanitize_bytes_per_second = lun.sanitize_rate;
    auto unit = std::make_shared<scsi::LogicalUnit>(std::move(identity), std::move(*store));
    unit->set_task_aborter([this](const scsi::LogicalUnit& u, const std::vector<std::uint64_t>& nexuses,
                                  const scsi::Command* except,
                                  const std::function<void()>& done) { abort_tasks(u, nexuses, except, done); });
    return unit;
}

std::shared_ptr<const LunTable> Server::make_table(
    const TargetNode& node, const TargetSpec& spec,
    const std::map<std::uint64_t, std::shared_ptr<scsi::LogicalUnit>>& units) {
    auto table = std::make_shared<LunTable>();
    auto all = std::make_shared<scsi::Device>();
    for (const auto& [lun, unit] : units) {
        all->add(lun, unit);
        table->counters.emplace_back(lun, &node.counters->lun(lun));
    }
    table->device = std::move(all);
    // LUN masking and mapping: an initiator with its own map sees those LUNs only, numbered
    // its way, the same logical units behind them (reservations and attentions are shared).
    for (const auto& entry : spec.access.initiators) {
        if (entry.luns.empty()) continue;
        auto view = std::make_shared<scsi::Device>();
        for (const auto& map : entry.luns)
            if (auto it = units.find(map.target_lun); it != units.end()) view->add(map.lun, it->second, map.read_only);
        table->initiator_devices.emplace(entry.name, std::move(view));
    }
    return table;
}

Result<std::shared_ptr<TargetNode>> Server::make_node(const TargetSpec& spec) {
    auto node = std::make_shared<TargetNode>();
    node->iqn = spec.iqn;
    node->alias = spec.alias;
    node->portals = spec.portals;
    node->access = std::make_shared<const TargetAccess>(spec.access);
    node->counters = std::make_shared<TargetCounters>(reactors_.size());
    std::map<std::uint64_t, std::shared_ptr<scsi::LogicalUnit>> units;
    for (const auto& lun : spec.luns) {
        auto unit = make_unit(spec, lun);
        if (!unit) return fail(unit.error().message);
        units.emplace(lun.lun, std::move(*unit));
        spdlog::info("target {} LUN {}: {}", spec.iqn, lun.lun, lun.to_string());
    }
    node->publish(make_table(*node, spec, units));
    return node;
}

Server::Server(DaemonConfig config) : config_(std::move(config)), reactors_(config_.reactors) {
    for (auto& spec : config_.targets) spec.number_luns();
    for (const auto& spec : config_.targets) {
        auto node = make_node(spec);
        if (!node) throw std::runtime_error(node.error().message);
        targets_.push_back(std::move(*node));
    }
}

Server::~Server() {
    if (!stopping_) stop(std::chrono::milliseconds(0));
}

const scsi::Device& LunTable::device_for(std::string_view initiator) const {
    auto it = initiator_devices.find(initiator);
    return it != initiator_devices.end() ? *it->second : *device;
}

LunCounters* LunTable::counters_of(std::uint64_t target_lun) const {
    auto it = std::lower_bound(counters.begin(), counters.end(), target_lun,
                               [](const auto& entry, std::uint64_t lun) { return entry.first < lun; });
    return it != counters.end() && it->first == target_lun ? it->second : nullptr;
}

std::shared_ptr<const LunTable> TargetNode::luns() const {
    std::lock_guard lock(luns_mutex_);
    return luns_;
}

void TargetNode::publish(std::shared_ptr<const LunTable> table) {
    std::lock_guard lock(luns_mutex_);
    luns_ = std::move(table);
    generation_.fetch_add(1, std::memory_order_release);
}

bool TargetNode::served_on(const PortalAddress& portal) const {
    return std::find(portals.begin(), portals.end(), portal) != portals.end();
}

std::vector<std::shared_ptr<const TargetNode>> Server::targets() const {
    std::lock_guard lock(manage_mutex_);
    return {targets_.begin(), targets_.end()};
}

std::shared_ptr<const TargetNode> Server::find_target(std::string_view iqn) const {
    std::lock_guard lock(manage_mutex_);
    for (const auto& node : targets_)
        if (node->iqn == iqn) return node;
    // RFC 3722 §6.1: iSCSI names compare after case folding (stringprep); IQNs we accept are
    // lower case, so a case-insensitive match is the same thing for them.
    for (const auto& node : targets_)
        if (node->iqn.size() == iqn.size() &&
            std::equal(node->iqn.begin(), node->iqn.end(), iqn.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
            }))
            return node;
    return nullptr;
}

iscsi::LocalLimits Server::local_limits(const TargetNode* node) const {
    iscsi::LocalLimits limits;
    if (node) limits.target_alias = node->alias;
    limits.max_outstanding_r2t = config_.max_outstanding_r2t;
    return limits;
}

std::uint64_t Server::nexus_id(const std::string& initiator, std::uint64_t isid, const std::string& target) {
    std::lock_guard lock(nexus_mutex_);
    auto [it, inserted] = nexus_ids_.try_emplace({initiator, isid, target}, nexus_ids_.size() + 1);
    return it->second;
}

void Server::abort_tasks(const scsi::LogicalUnit& unit, const std::vector<std::uint64_t>& nexuses,
                         const scsi::Command* except, const std::function<void()>& done) {
    // The nexus ids of the sessions' keys, looked up without adding any (a session in the table
    // has its id already, or has no task yet).
    std::vector<SessionTable::Key> keys;
    {
        std::lock_guard lock(nexus_mutex_);
        for (const auto& [key, id] : nexus_ids_)
            if (std::find(nexuses.begin(), nexuses.end(), id) != nexuses.end()) keys.push_back(key);
    }
    auto aborters = sessions_.aborters(
        [&keys](const SessionTable::Key& key) { return std::find(keys.begin(), keys.end(), key) != keys.end(); });
    struct Countdown {
        std::atomic<std::size_t> left;
        std::function<void()> done;
    };
    auto countdown = std::make_shared<Countdown>();
    countdown->left = aborters.size() + 1;
    countdown->done = done;
    auto one_done = [countdown] {
        if (countdown->left.fetch_sub(1, std::memory_order_acq_rel) == 1) countdown->done();
    };
    for (auto& aborter : aborters) aborter(&unit, except, one_done);
    one_done();
}

void Server::start() {
    // Data-In may go out by sendfile, which has no MSG_NOSIGNAL: a connection the initiator reset
    // would raise SIGPIPE and end the process. The error is handled where the write completes.
    std::signal(SIGPIPE, SIG_IGN);
    // One acceptor per distinct portal; targets sharing a portal share its acceptor.
    std::vector<PortalAddress> portals;
    for (const auto& node : targets_)
        for (const auto& p : node->portals) portals.push_back(p);
    if (auto ok = listen_on(portals); !ok) throw std::runtime_error(ok.error().message);
    reactors_.start();
}

Result<void> Server::listen_on(const std::vector<PortalAddress>& portals) {
    std::lock_guard lock(portal_mutex_);
    std::vector<std::pair<asio::ip::tcp::endpoint, PortalAddress>> opened;
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors;
    auto listened = [&](const PortalAddress& p) {
        auto same = [&](const auto& entry) { return entry.second == p; };
        return std::any_of(listening_.begin(), listening_.end(), same) ||
               std::any_of(opened.begin(), opened.end(), same);
    };
    auto& home = reactors_.at(0).context();
    for (const auto& portal : portals) {
        if (listened(portal)) continue;
        std::error_code ec;
        auto address = asio::ip::make_address(portal.host, ec);
        if (ec) return fail(fmt::format("portal {}: not an IP address: {}", portal.to_string(), ec.message()));
        asio::ip::tcp::endpoint endpoint(address, portal.port);
        auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(home);
        acceptor->open(endpoint.protocol(), ec);
        if (!ec) acceptor->set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
        if (!ec && address.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
        if (!ec) acceptor->bind(endpoint, ec);
        if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
        // Nothing opened here listens unless all of it does (the acceptors close as they go).
        if (ec) return fail(fmt::format("cannot listen on {}: {}", portal.to_string(), ec.message()));
        auto bound = acceptor->local_endpoint(ec);
        spdlog::info("listening on {}", PortalAddress{portal.host, bound.port()}.to_string());
        opened.push_back({bound, portal});
        acceptors.push_back(std::move(acceptor));
    }
    for (std::size_t i = 0; i < acceptors.size(); ++i) {
        // Kept apart from the acceptor: reactors read it at login while stop() closes the acceptors.
        listening_.push_back(opened[i]);
        // Accepting starts on the acceptor's own reactor (this may be the management thread).
        asio::post(acceptors[i]->get_executor(), [this, a = acceptors[i].get()] { accept_on(*a); });
        acceptors_.push_back(std::move(acceptors[i]));
    }
    return {};
}

std::optional<PortalAddress> Server::portal_of(const asio::ip::tcp::endpoint& local) const {
    // The listening socket the connection came through: its own address, else a wildcard one.
    std::optional<PortalAddress> wildcard;
    std::lock_guard lock(portal_mutex_);
    for (const auto& [bound, portal] : listening_) {
        if (bound.port() != local.port()) continue;
        if (bound.address() == local.address()) return portal;
        if (bound.address().is_unspecified() && !wildcard) wildcard = portal;
    }
    return wildcard;
}

std::vector<asio::ip::tcp::endpoint> Server::bound_endpoints() const {
    std::vector<asio::ip::tcp::endpoint> out;
    std::lock_guard lock(portal_mutex_);
    for (const auto& [bound, portal] : listening_) out.push_back(bound);
    return out;
}

void Server::accept_on(asio::ip::tcp::acceptor& acceptor) {
    auto& reactor = reactors_.next();
    acceptor.async_accept(
        reactor.context(), [this, &acceptor, &reactor](std::error_code ec, asio::ip::tcp::socket socket) {
            if (ec == asio::error::operation_aborted || stopping_) return;
            if (!ec) {
                if (connection_count_ >= config_.max_connections) {
                    spdlog::warn("refusing a connection from {}: {} connections open (max_connections)",
                                 socket.remote_endpoint(ec).address().to_string(), connection_count_.load());
                    socket.close(ec);
                } else {
                    open_connection(reactor, std::make_shared<Connection>(*this, reactor, std::move(socket)));
                }
            } else {
                spdlog::warn("accept failed: {}", ec.message());
            }
            accept_on(acceptor);
        });
}

void Server::open_connection(Reactor& reactor, std::shared_ptr<Connection> connection) {
    connection_opened(connection);
    asio::post(reactor.context(), [connection = std::move(connection)] { connection->start(); });
}

std::unique_ptr<iscsi::ByteTransport> Server::connect_in_process(asio::any_io_executor client) {
    auto& reactor = reactors_.next();
    auto [ours, theirs] = iscsi::make_memory_pipe(reactor.context().get_executor(), std::move(client));
    auto endpoints = bound_endpoints();
    const asio::ip::tcp::endpoint local = endpoints.empty() ? asio::ip::tcp::endpoint() : endpoints.front();
    const asio::ip::tcp::endpoint remote(asio::ip::make_address("127.0.0.1"), 0);
    open_connection(reactor, std::make_shared<Connection>(*this, reactor, std::move(ours), local, remote));
    return std::move(theirs);
}

void Server::connection_opened(const std::shared_ptr<Connection>& c) {
    ++connection_count_;
    counters_.connections.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(live_mutex_);
    live_.push_back({c.get(), c});
}

void Server::connection_closed(Connection* c) {
    --connection_count_;
    std::lock_guard lock(live_mutex_);
    std::erase_if(live_, [c](const Live& l) { return l.raw == c || l.weak.expired(); });
}

void Server::log_cache_stats() const {
    bool any = false;
    for (const auto& node : targets()) {
        const auto table = node->luns();
        for (auto lun : table->device->luns()) {
            if (const auto* cache = dynamic_cast<const cache::CachedStore*>(&table->device->find(lun)->store())) {
                spdlog::info("cache {} LUN {}: {}", node->iqn, lun, cache::format_stats(cache->stats()));
                any = true;
            }
        }
    }
    if (!any) spdlog::info("cache: no LUN has a block cache (cache=writethrough|writeback)");
}

void Server::flush_unit(const TargetNode& node, std::uint64_t lun, scsi::LogicalUnit& unit) {
    auto io = make_sync_io_engine();
    std::promise<std::error_code> flushed;
    unit.store().flush(*io, [&flushed](std::error_code ec) { flushed.set_value(ec); });
    io->reap();
    if (auto ec = flushed.get_future().get())
        spdlog::error("flush of {} LUN {} failed: {}", node.iqn, lun, ec.message());
}

void Server::stop(std::chrono::milliseconds grace) {
    if (stopping_.exchange(true)) return;
    spdlog::info("stopping: no new connections; asking {} session(s) to log out", sessions_.size());
    {
        std::lock_guard lock(portal_mutex_);
        for (auto& acceptor : acceptors_) {
            asio::post(acceptor->get_executor(), [a = acceptor.get()] {
                std::error_code ec;
                a->close(ec);
            });
        }
    }
    std::vector<std::shared_ptr<Connection>> live;
    {
        std::lock_guard lock(live_mutex_);
        for (auto& l : live_)
            if (auto c = l.weak.lock()) live.push_back(c);
    }
    const auto seconds = static_cast<std::uint16_t>(std::max<long>(1, grace.count() / 1000));
    for (auto& c : live)
        asio::post(c->reactor().context(), [c, seconds] {
            if (auto* s = c->session()) s->request_logout(seconds);
        });
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (sessions_.size() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (auto& c : live) asio::post(c->reactor().context(), [c] { c->close("target stopping"); });
    // Let closes and in-flight storage completions run before the reactors stop.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    reactors_.stop();
    // Acknowledged writes reach stable storage before we exit (DESIGN.md, errors and bad input);
    // a write-back cache writes back everything dirty first.
    for (const auto& node : targets()) {
        const auto table = node->luns();
        for (auto lun : table->device->luns()) flush_unit(*node, lun, *table->device->find(lun));
    }
    spdlog::info("stopped");
}

}  // namespace iscsikit::target
