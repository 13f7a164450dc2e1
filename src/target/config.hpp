// The daemon's configuration: targets, their portals and LUNs, and the service knobs. Built from
// the command line's quick flags or from a TOML file; a wrong file is an error that names the line
// and the key, and the daemon does not start.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/secret_file.hpp"
#include "iscsi/chap.hpp"
#include "iscsi/name.hpp"
#include "iscsi/portal.hpp"

namespace iscsikit::target {

using PortalAddress = iscsi::Portal;

struct LunSpec {
    enum class Kind { ram, file, blockdev };
    // Where a file or block device LUN's blocks are cached: `kernel`, the page cache (buffered
    // I/O); `none`, nowhere (O_DIRECT); `writethrough` and `writeback`, our block cache
    // (src/cache/) in front of the store opened with O_DIRECT, `cache_size` bytes of it.
    enum class Cache { kernel, none, writethrough, writeback };
    static constexpr std::uint64_t kDefaultCacheSize = std::uint64_t{256} << 20;
    static constexpr std::uint64_t kMinCacheSize = std::uint64_t{1} << 20;
    // Its number on the target (after a removal the numbers have gaps); kNextLun: the one after
    // the previous LUN's, from 0 (TargetSpec::number_luns fills it in).
    static constexpr std::uint64_t kNextLun = ~std::uint64_t{0};
    std::uint64_t lun = kNextLun;
    Kind kind = Kind::ram;
    std::string path;        // file and blockdev
    std::uint64_t size = 0;  // bytes; ram: required; file: size when the file is created
    std::uint32_t block_size = 512;
    bool read_only = false;
    bool thin = false;
    bool removable = false;
    Cache cache = Cache::kernel;
    std::uint64_t cache_size = 0;  // 0: kDefaultCacheSize (writethrough and writeback only)
    // The most bytes per second SANITIZE OVERWRITE writes, so that it leaves the disk to other
    // LUNs; 0: as fast as the store takes them.
    std::uint64_t sanitize_rate = 0;
    bool own_cache() const { return cache == Cache::writethrough || cache == Cache::writeback; }
    std::uint64_t cache_bytes() const { return own_cache() ? (cache_size ? cache_size : kDefaultCacheSize) : 0; }
    std::string to_string() const;
};

// CHAP credentials as configured (RFC 7143 §12.1.3): the secret inline, or read from
// `secret_file`, which only the daemon's user may read (docs/security.md).
struct ChapSpec {
    std::string user;
    std::string secret;
    std::string secret_file;  // where `secret` was read from; empty when it was given inline
    bool empty() const { return user.empty(); }
    iscsi::ChapCredentials credentials() const { return {user, secret}; }
    bool operator==(const ChapSpec&) const = default;
};

// One LUN of an initiator's own map: the number it sees, the target's LUN behind it, and
// whether it may write (LUN masking and mapping).
struct LunMapping {
    std::uint64_t lun = 0;
    std::uint64_t target_lun = 0;
    bool read_only = false;
    bool operator==(const LunMapping&) const = default;
};

// One initiator's own entry on a target ([[target.initiator]]): listing it allows it to log in,
// its credentials win over the target's, and a LUN map (when given) is all it sees.
struct InitiatorSpec {
    std::string name;
    ChapSpec chap;
    ChapSpec mutual_chap;
    std::vector<LunMapping> luns;  // empty: every LUN, numbered as the target numbers them
    bool operator==(const InitiatorSpec&) const = default;
};

// What a login needs from a target's access rules: may this initiator log in, and which CHAP
// credentials must it present (empty: none) and does the target answer with (mutual CHAP).
struct LoginPolicy {
    bool allowed = false;
    iscsi::ChapCredentials chap;
    iscsi::ChapCredentials mutual_chap;
};

// Who may log in to a target (RFC 7143 §12, §11.13.5 status 0202 for the rest).
struct TargetAccess {
    std::vector<std::string> allow;  // initiator names; "*" serves anyone (the explicit opt-in)
    ChapSpec chap;                   // what every initiator must present, unless its own entry says
    ChapSpec mutual_chap;            // what the target answers an initiator that asks
    std::vector<InitiatorSpec> initiators;
    bool open() const;        // "*" is in the allow list
    bool restricted() const;  // an allow list or initiator entries exist
    bool allows(std::string_view initiator) const;
    LoginPolicy policy(std::string_view initiator) const;
    bool operator==(const TargetAccess&) const = default;
};

struct TargetSpec {
    std::string iqn;
    std::string alias;
    std::vector<PortalAddress> portals;
    std::vector<LunSpec> luns;  // in ascending LUN order; may be empty (live management adds them)
    TargetAccess access;
    const LunSpec* find_lun(std::uint64_t number) const;
    // Gives every LUN left at kNextLun its number.
    void number_luns();
};

struct DaemonConfig {
    std::vector<TargetSpec> targets;
    unsigned reactors = 0;  // 0: one per CPU
    std::string log_level = "info";
    std::uint32_t nop_interval_seconds = 30;   // ping an idle initiator after this long
    std::uint32_t nop_timeout_seconds = 30;    // drop the connection when the ping goes unanswered
    std::uint32_t login_timeout_seconds = 15;  // a login that does not finish by then is dropped
    std::uint32_t max_connections = 1024;      // beyond this, new TCP connections are refused
    std::uint32_t max_queued_commands = 128;   // CmdSN window per session
    // MaxOutstandingR2T we accept (RFC 7143 §13.17); the session takes the smaller of this and the
    // initiator's offer (1 is what most initiators offer).
    std::uint32_t max_outstanding_r2t = 1;
    // Discovery sessions: CHAP the initiator must present (empty: none) and the target's answer.
    ChapSpec discovery_chap;
    ChapSpec discovery_mutual_chap;
    // The CHAP algorithms the target may use (RFC 7143 §12.1.3 CHAP_A), strongest first by default;
    // the initiator's list order picks among them (§6.2).
    std::vector<iscsi::ChapAlgorithm> chap_algorithms = iscsi::default_chap_algorithms();
    // The JSON-RPC management socket (docs/management.md): empty: none. Mode 0660, its group
    // `rpc_group` when set (else the daemon's).
    std::string rpc_socket;
    std::string rpc_group;
    // Where Prometheus metrics are served (GET /metrics, docs/management.md); none by default.
    std::optional<PortalAddress> metrics;
};

inline constexpr const char* kDefaultTargetIqn = "iqn.2026-11.org.iscsikit:default";

// The embedded default: one target with a 1 GiB RAM LUN on 127.0.0.1:3260.
DaemonConfig default_config();

// iscsi::parse_portal ("127.0.0.1:3260", "[::1]:3260", "[::1]", "host" with port 3260) with the
// daemon's context: "portal 'x': why".
Result<PortalAddress> parse_portal(const std::string& text);
// The metrics address (--metrics, `metrics`): a portal whose port must be given, since
// parse_portal's default is iSCSI's 3260: "metrics address 'x': why".
Result<PortalAddress> parse_metrics_address(const std::string& text);
// "ram:1G", "file:/path,readonly=true,block_size=4096", "blockdev:/dev/sdb". Sizes as
// core/size.hpp reads them: bytes, or a power-of-1024 suffix ("16M", "1GiB").
Result<LunSpec> parse_lun_spec(const std::string& text);
// core/size.hpp's parse_size with the daemon's context: "size 'x': why".
Result<std::uint64_t> parse_size(const std::string& text);
// The iSCSI name rules live in iscsi/name.hpp.
using iscsi::check_iscsi_name;
// "USER:SECRET" from the command line, split at the last ':'; "USER:@FILE" reads the secret from
// FILE (read_secret_file's rules). Lengths are checked by validate().
Result<ChapSpec> parse_chap_spec(const std::string& text);
// Secret files are read by core/secret_file.hpp's rules.
using iscsikit::read_secret_file;
// 127.0.0.0/8, ::1 and "localhost": a portal only this machine reaches.
bool is_loopback_host(const std::string& host);
// True when the configuration holds a secret inline (the file holding it must not be world-readable).
bool has_inline_secret(const DaemonConfig& config);

// The configuration as the TOML file the loader reads back to the same configuration (save).
std::string to_toml(const DaemonConfig& config);
// Writes to_toml(config) to `path` atomically: temporary file, fsync, rename, directory fsync;
// mode 0600 when it holds secrets inline, else 0644.
Result<void> save_config_file(const DaemonConfig& config, const std::string& path);

// Reads a TOML file (schema: docs/configuration.md) and validates it. Errors say
// "FILE:LINE:COL: message" for TOML syntax and "FILE:LINE: key 'target[0].lun[1].size': what is
// wrong" for the schema; unknown keys are errors.
Result<DaemonConfig> load_config_file(const std::string& path);
// Checks the whole configuration (every target has an IQN that is a valid iSCSI name, at least
// one portal, LUN numbers ascending and unique, no duplicate IQNs, block sizes 512 or 4096, ram sizes multiples of the
// block size, block caches that together take at most half of the machine's memory, ...).
Result<void> validate(const DaemonConfig& config);

}  // namespace iscsikit::target
