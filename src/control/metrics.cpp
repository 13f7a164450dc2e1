#include "control/metrics.hpp"

#include <array>
#include <string>
#include <vector>

#include "cache/cached_store.hpp"
#include "control/exposition.hpp"
#include "target/server.hpp"

namespace iscsikit::control {

namespace {

using target::CommandKind;
using target::kCommandKinds;

// The latency histogram's bounds in seconds, from target::kLatencyBoundsNs.
std::array<double, target::kLatencyBoundsNs.size()> latency_bounds_seconds() {
    std::array<double, target::kLatencyBoundsNs.size()> out{};
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(target::kLatencyBoundsNs[i]) / 1e9;
    return out;
}

// One LUN as the metrics see it: its labels and everything read from it once per scrape.
struct LunView {
    std::string target;
    std::string lun;
    target::LunStats stats;
    const scsi::StoreHealth* health = nullptr;
    const cache::CachedStore* cache = nullptr;
    std::shared_ptr<const target::LunTable> table;  // keeps health and cache alive
    std::array<Label, 2> labels() const { return {Label{"target", target}, Label{"lun", lun}}; }
};

std::vector<LunView> collect(const target::Server& server) {
    std::vector<LunView> out;
    for (const auto& node : server.targets()) {
        const auto table = node->luns();
        for (auto lun : table->device->luns()) {
            LunView view;
            view.target = node->iqn;
            view.lun = std::to_string(lun);
            view.table = table;
            if (const auto* counters = table->counters_of(lun)) view.stats = counters->stats();
            if (auto* unit = table->device->find(lun)) {
                view.health = &unit->store_health();
                view.cache = dynamic_cast<const cache::CachedStore*>(&unit->store());
            }
            out.push_back(std::move(view));
        }
    }
    return out;
}

void render_commands(Exposition& e, const std::vector<LunView>& luns) {
    auto per_kind = [&](std::string_view name, std::string_view help, auto field) {
        e.family(name, "counter", help);
        for (const auto& lun : luns)
            for (std::size_t k = 0; k < kCommandKinds; ++k) {
                const std::array<Label, 3> labels{Label{"target", lun.target}, Label{"lun", lun.lun},
                                                  Label{"op", target::command_kind_name(static_cast<CommandKind>(k))}};
                e.sample(name, labels, field(lun.stats.kinds[k]));
            }
    };
    per_kind("iscsikit_scsi_commands_total", "SCSI commands the LUN answered, by operation (read, write, other).",
             [](const target::LunStats::PerKind& k) { return k.commands; });
    per_kind("iscsikit_scsi_errors_total", "SCSI commands that ended in CHECK CONDITION.",
             [](const target::LunStats::PerKind& k) { return k.errors; });

    e.family("iscsikit_scsi_read_bytes_total", "counter", "Bytes READ commands returned (Data-In).");
    for (const auto& lun : luns)
        e.sample("iscsikit_scsi_read_bytes_total", lun.labels(),
                 lun.stats.kinds[static_cast<std::size_t>(CommandKind::read)].bytes);
    e.family("iscsikit_scsi_written_bytes_total", "counter", "Bytes WRITE commands wrote.");
    for (const auto& lun : luns)
        e.sample("iscsikit_scsi_written_bytes_total", lun.labels(),
                 lun.stats.kinds[static_cast<std::size_t>(CommandKind::write)].bytes);

    const auto bounds = latency_bounds_seconds();
    e.family("iscsikit_scsi_command_duration_seconds", "histogram",
             "Time from a SCSI Command PDU's arrival to the command's outcome (data-out transfer and queueing "
             "included).");
    for (const auto& lun : luns)
        for (std::size_t k = 0; k < kCommandKinds; ++k) {
            const auto& s = lun.stats.kinds[k];
            const std::array<Label, 3> labels{Label{"target", lun.target}, Label{"lun", lun.lun},
                                              Label{"op", target::command_kind_name(static_cast<CommandKind>(k))}};
            e.histogram("iscsikit_scsi_command_duration_seconds", labels, bounds, s.buckets,
                        static_cast<double>(s.duration_ns) / 1e9);
        }
}

void render_backstore(Exposition& e, const std::vector<LunView>& luns) {
    e.family("iscsikit_backstore_errors_total", "counter",
             "Backing-store calls that failed, by error (ENOSPC, EIO, EROFS, other).");
    for (const auto& lun : luns) {
        if (!lun.health) continue;
        for (std::size_t k = 0; k < scsi::kStoreErrorKinds; ++k) {
            const auto kind = static_cast<scsi::StoreError>(k);
            const std::array<Label, 3> labels{Label{"target", lun.target}, Label{"lun", lun.lun},
                                              Label{"error", scsi::store_error_name(kind)}};
            e.sample("iscsikit_backstore_errors_total", labels, lun.health->errors(kind));
        }
    }
}

void render_caches(Exposition& e, const std::vector<LunView>& luns) {
    std::vector<std::pair<const LunView*, cache::CacheStats>> caches;
    for (const auto& lun : luns)
        if (lun.cache) caches.emplace_back(&lun, lun.cache->stats());
    if (caches.empty()) return;
    struct Row {
        std::string_view name, type, help;
        std::uint64_t (*read)(const cache::CacheStats&);
    };
    static constexpr Row kRows[] = {
        {"iscsikit_cache_pages", "gauge", "Pages (4 KiB frames) of the LUN's block cache.",
         [](const cache::CacheStats& s) { return s.pages; }},
        {"iscsikit_cache_resident_pages", "gauge", "Cache pages holding data.",
         [](const cache::CacheStats& s) { return s.resident; }},
        {"iscsikit_cache_dirty_pages", "gauge", "Cache pages written and not yet written back.",
         [](const cache::CacheStats& s) { return s.dirty; }},
        {"iscsikit_cache_hits_total", "counter", "Pages a command found in the cache.",
         [](const cache::CacheStats& s) { return s.hits; }},
        {"iscsikit_cache_misses_total", "counter", "Pages a command had to read from the store or wait for.",
         [](const cache::CacheStats& s) { return s.misses; }},
        {"iscsikit_cache_lent_total", "counter", "Reads served by lending cache pages to the transport (no copy).",
         [](const cache::CacheStats& s) { return s.lent; }},
        {"iscsikit_cache_bypassed_total", "counter", "Pages read past the cache (every frame pinned or dirty).",
         [](const cache::CacheStats& s) { return s.bypassed; }},
        {"iscsikit_cache_evictions_total", "counter", "Pages evicted.",
         [](const cache::CacheStats& s) { return s.evictions; }},
        {"iscsikit_cache_writebacks_total", "counter", "Store writes of dirty pages (write-back).",
         [](const cache::CacheStats& s) { return s.flushes; }},
        {"iscsikit_cache_writeback_bytes_total", "counter", "Bytes those writes wrote.",
         [](const cache::CacheStats& s) { return s.flushed_bytes; }},
        {"iscsikit_cache_throttled_writes_total", "counter", "Writes that waited for the dirty limit.",
         [](const cache::CacheStats& s) { return s.throttled; }},
        {"iscsikit_cache_read_ahead_bytes_total", "counter", "Bytes read ahead.",
         [](const cache::CacheStats& s) { return s.read_ahead.issued_bytes; }},
        {"iscsikit_cache_read_ahead_used_bytes_total", "counter", "Bytes read ahead that a command then read.",
         [](const cache::CacheStats& s) { return s.read_ahead.used_bytes; }},
        {"iscsikit_cache_read_ahead_wasted_bytes_total", "counter", "Bytes read ahead and evicted unread.",
         [](const cache::CacheStats& s) { return s.read_ahead.wasted_bytes; }},
    };
    for (const auto& row : kRows) {
        e.family(row.name, row.type, row.help);
        for (const auto& [lun, stats] : caches) e.sample(row.name, lun->labels(), row.read(stats));
    }
}

void render_sessions(Exposition& e, const target::Server& server) {
    const auto& counters = server.counters();
    const auto targets = server.targets();
    e.family("iscsikit_sessions", "gauge", "Normal sessions open, per target.");
    for (const auto& target : targets) {
        const auto& node = *target;
        const std::array<Label, 1> labels{Label{"target", node.iqn}};
        e.sample("iscsikit_sessions", labels,
                 static_cast<std::int64_t>(node.counters ? node.counters->sessions.open.load() : 0));
    }
    e.family("iscsikit_discovery_sessions", "gauge", "Discovery sessions open.");
    e.sample("iscsikit_discovery_sessions", {}, static_cast<std::int64_t>(counters.discovery.open.load()));

    e.family("iscsikit_logins_total", "counter", "Logins that opened a normal session, per target.");
    for (const auto& target : targets) {
        const auto& node = *target;
        const std::array<Label, 1> labels{Label{"target", node.iqn}};
        e.sample("iscsikit_logins_total", labels, node.counters ? node.counters->sessions.logins.load() : 0);
    }
    e.family("iscsikit_discovery_logins_total", "counter", "Logins that opened a discovery session.");
    e.sample("iscsikit_discovery_logins_total", {}, counters.discovery.logins.load());

    e.family("iscsikit_login_failures_total", "counter",
             "Logins refused, by reason (from the Login Response's status class and detail).");
    for (std::size_t r = 0; r < target::kLoginFailures; ++r) {
        const std::array<Label, 1> labels{
            Label{"reason", target::login_failure_name(static_cast<target::LoginFailure>(r))}};
        e.sample("iscsikit_login_failures_total", labels, counters.login_failures[r].load());
    }

    e.family("iscsikit_connections", "gauge", "TCP connections open (login phase included).");
    e.sample("iscsikit_connections", {}, static_cast<std::uint64_t>(server.connection_count()));
    e.family("iscsikit_connections_total", "counter", "TCP connections accepted.");
    e.sample("iscsikit_connections_total", {}, counters.connections.load());

    e.family("iscsikit_task_set_full_total", "counter",
             "SCSI commands answered TASK SET FULL (the session's task buffers were at their limit).");
    for (const auto& target : targets) {
        const auto& node = *target;
        const std::array<Label, 1> labels{Label{"target", node.iqn}};
        e.sample("iscsikit_task_set_full_total", labels, node.counters ? node.counters->task_set_full.load() : 0);
    }
    e.family("iscsikit_cmdsn_out_of_window_total", "counter",
             "Commands ignored because their CmdSN was outside the command window (RFC 7143 §3.2.2.1).");
    for (const auto& target : targets) {
        const auto& node = *target;
        const std::array<Label, 1> labels{Label{"target", node.iqn}};
        e.sample("iscsikit_cmdsn_out_of_window_total", labels,
                 node.counters ? node.counters->outside_cmd_window.load() : 0);
    }
}

}  // namespace

std::string render_metrics(const target::Server& server) {
    Exposition e;
    const auto luns = collect(server);
    render_sessions(e, server);
    render_commands(e, luns);
    render_backstore(e, luns);
    render_caches(e, luns);
    return e.take();
}

}  // namespace iscsikit::control
