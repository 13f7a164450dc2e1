// iscsikit-target: the iSCSI target daemon. With no arguments it serves the embedded default (one
// target with a 1 GiB RAM LUN on 127.0.0.1:3260); quick flags or a TOML file configure more.
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "control/metrics.hpp"
#include "control/metrics_http.hpp"
#include "control/rpc_server.hpp"
#include "core/log.hpp"
#include "target/config.hpp"
#include "target/server.hpp"

using namespace iscsikit;

namespace {

int die(const std::string& message) {
    std::cerr << "iscsikit-target: " << message << "\n";
    return 1;  // a configuration error: one line, exit 1 (CLI11 keeps its own codes for usage errors)
}

// Tells systemd (Type=notify, dist/iscsikit-target.service) how the daemon is doing. Without
// NOTIFY_SOCKET in the environment sd_notify returns 0 and sends nothing.
void notify_service_manager(const std::string& state) {
    if (int r = sd_notify(0, state.c_str()); r < 0)
        spdlog::error("sd_notify '{}' failed: {}", state.substr(0, state.find('\n')), std::strerror(-r));
}

// "serving 2 targets on 127.0.0.1:3260, [::1]:3260": the bound addresses, so port 0 shows as the real one.
std::string serving_status(const target::Server& server) {
    std::string portals;
    for (const auto& endpoint : server.bound_endpoints())
        portals += (portals.empty() ? "" : ", ") +
                   target::PortalAddress{endpoint.address().to_string(), endpoint.port()}.to_string();
    auto count = server.targets().size();
    return fmt::format("serving {} target{} on {}", count, count == 1 ? "" : "s", portals);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"iscsikit-target: a user-space iSCSI target"};
    std::vector<std::string> portals, luns, allow;
    std::string chap, mutual_chap;
    std::string target_iqn, config_file, log_level = "info";
    unsigned reactors = 0;
    std::optional<std::uint32_t> nop_interval, nop_timeout, max_outstanding_r2t;
    std::optional<std::string> metrics;
    app.add_option("--portal", portals, "HOST:PORT to listen on (repeatable; [::1]:3260 for IPv6)");
    app.add_option("--target", target_iqn,
                   "IQN of the target (default " + std::string(target::kDefaultTargetIqn) + ")");
    app.add_option("--lun", luns,
                   "LUN 0, 1, ... in order: ram:SIZE | file:PATH | blockdev:PATH, each optionally followed by "
                   ",readonly=true,block_size=4096,size=1G,thin=true,removable=true");
    app.add_option("--chap", chap,
                   "USER:SECRET initiators must present (CHAP, for the target and for discovery); USER:@FILE "
                   "reads the secret from FILE (mode 600)");
    app.add_option("--mutual-chap", mutual_chap,
                   "USER:SECRET the target answers with when an initiator authenticates it (mutual CHAP)");
    app.add_option("--allow", allow, "initiator IQN allowed to log in (repeatable); '*' serves anyone");
    std::string rpc_socket;
    app.add_option("--rpc-socket", rpc_socket,
                   "Unix socket for the JSON-RPC management API (iscsikit admin; docs/management.md)");
    app.add_option("--config", config_file, "TOML configuration file (see docs/configuration.md)");
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
    app.add_option("--reactors", reactors, "reactor threads (0: one per CPU)")->capture_default_str();
    app.add_option("--nop-interval", nop_interval,
                   "seconds of silence before the target pings an initiator (0: never)");
    app.add_option("--nop-timeout", nop_timeout,
                   "seconds an unanswered ping may wait before the connection is dropped");
    app.add_option("--max-outstanding-r2t", max_outstanding_r2t,
                   "MaxOutstandingR2T the target accepts, 1 to 65535 (default 1; the initiator's offer caps it)");
    app.add_option("--metrics", metrics,
                   "HOST:PORT to serve Prometheus metrics on, GET /metrics (default: off; docs/management.md)");
    CLI11_PARSE(app, argc, argv);

    if (!setup_logging(log_level)) return die("unknown log level '" + log_level + "'");

    target::DaemonConfig config;
    if (!config_file.empty()) {
        if (!portals.empty() || !luns.empty() || !target_iqn.empty() || !chap.empty() || !mutual_chap.empty() ||
            !allow.empty())
            return die(
                "--config cannot be combined with --portal, --target, --lun, --chap, --mutual-chap or --allow "
                "(the file says all of it)");
        auto loaded = target::load_config_file(config_file);
        if (!loaded) return die(loaded.error().message);
        config = std::move(*loaded);
        if (!app.get_option("--log-level")->empty()) config.log_level = log_level;
        setup_logging(config.log_level);
    } else {
        config = target::default_config();
        auto& node = config.targets.front();
        if (!target_iqn.empty()) node.iqn = target_iqn;
        if (!portals.empty()) {
            node.portals.clear();
            for (const auto& text : portals) {
                auto portal = target::parse_portal(text);
                if (!portal) return die("--portal " + text + ": " + portal.error().message);
                node.portals.push_back(*portal);
            }
        }
        if (!luns.empty()) {
            node.luns.clear();
            for (const auto& text : luns) {
                auto lun = target::parse_lun_spec(text);
                if (!lun) return die("--lun " + text + ": " + lun.error().message);
                node.luns.push_back(*lun);
            }
        }
        if (!chap.empty()) {
            auto parsed = target::parse_chap_spec(chap);
            if (!parsed) return die("--chap: " + parsed.error().message);
            node.access.chap = *parsed;
            config.discovery_chap = *parsed;
        }
        if (!mutual_chap.empty()) {
            auto parsed = target::parse_chap_spec(mutual_chap);
            if (!parsed) return die("--mutual-chap: " + parsed.error().message);
            node.access.mutual_chap = *parsed;
            config.discovery_mutual_chap = *parsed;
        }
        node.access.allow = allow;
        config.log_level = log_level;
    }
    if (reactors) config.reactors = reactors;
    if (nop_interval) config.nop_interval_seconds = *nop_interval;
    if (nop_timeout) config.nop_timeout_seconds = *nop_timeout;
    if (max_outstanding_r2t) config.max_outstanding_r2t = *max_outstanding_r2t;
    if (metrics) {
        auto address = target::parse_metrics_address(*metrics);
        if (!address) return die("--metrics: " + address.error().message);
        config.metrics = *address;
    }
    if (!rpc_socket.empty()) config.rpc_socket = rpc_socket;
    if (auto valid = target::validate(config); !valid) return die(valid.error().message);
    // A daemon with no target would listen nowhere and never say so, unless targets are to come
    // over the management socket.
    if (config.targets.empty() && config.rpc_socket.empty())
        return die(config_file + ": no [[target]]: nothing to serve (and no rpc_socket to add one through)");
    if (config.targets.empty()) spdlog::warn("no target configured: add them with `iscsikit admin target add`");

    // SIGINT/SIGTERM are taken synchronously by this thread; reactor threads inherit the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGUSR1);  // logs the block caches' counters
    sigaddset(&signals, SIGHUP);   // rereads --config and applies what can change live
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    std::unique_ptr<target::Server> server;
    std::unique_ptr<control::MetricsHttpServer> metrics_server;
    std::unique_ptr<control::RpcServer> rpc_server;
    // SIGHUP and `iscsikit admin reload`: the file again, validated, then what differs applied.
    std::mutex reload_mutex;
    auto reload = [&]() -> Result<control::Json> {
        std::lock_guard lock(reload_mutex);
        auto fresh = target::load_config_file(config_file);
        if (!fresh) return fail(fresh.error().message);
        auto report = server->reload(*fresh);
        for (const auto& what : report.applied) spdlog::info("reload: applied {}", what);
        for (const auto& what : report.needs_restart) spdlog::warn("reload: not applied until a restart: {}", what);
        return control::Json{{"applied", report.applied}, {"needs_restart", report.needs_restart}};
    };
    try {
        server = std::make_unique<target::Server>(config);
        // The management socket exists before any portal accepts, so whoever sees a portal
        // answer may use it at once; its requests are answered once the server runs.
        if (!config.rpc_socket.empty()) {
            control::AdminContext context{*server, config_file, nullptr};
            if (!config_file.empty()) context.reload = reload;
            rpc_server = std::make_unique<control::RpcServer>(std::move(context), config.rpc_socket, config.rpc_group);
        }
        server->start();
        if (rpc_server) rpc_server->start();
        if (config.metrics)
            metrics_server = std::make_unique<control::MetricsHttpServer>(
                *config.metrics, [&server] { return control::render_metrics(*server); });
    } catch (const std::exception& e) {
        return die(e.what());
    }
    // Every portal accepts from here on (start() has bound and listened), so systemd may start
    // the units ordered after this one.
    notify_service_manager("READY=1\nSTATUS=" + serving_status(*server));
    int signal = 0;
    while (sigwait(&signals, &signal) == 0 && (signal == SIGUSR1 || signal == SIGHUP)) {
        if (signal == SIGUSR1) {
            server->log_cache_stats();
        } else if (config_file.empty()) {
            spdlog::warn("SIGHUP: started without --config, nothing to reload");
        } else {
            notify_service_manager("RELOADING=1");
            if (auto done = reload(); !done)
                spdlog::error("SIGHUP: {}; the running configuration stays", done.error().message);
            notify_service_manager("READY=1\nSTATUS=" + serving_status(*server));
        }
    }
    const char* name = signal == SIGINT ? "SIGINT" : "SIGTERM";
    spdlog::info("received {}", name);
    notify_service_manager(fmt::format("STOPPING=1\nSTATUS=stopping on {}", name));
    rpc_server.reset();      // it changes the server's state
    metrics_server.reset();  // it reads the server's state
    server->stop();
    return 0;
}
