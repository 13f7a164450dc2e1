// The client side of an iSCSI session (RFC 7143): login, the CmdSN window, SCSI commands with
// immediate, unsolicited and solicited (R2T) data, Data-In reassembly, NOP keepalive, per-command
// timeouts with ABORT TASK, and recovery from a lost connection by session reinstatement with the
// in-flight commands re-issued in order. Several portals give failover: a portal that fails is set
// aside and tried again later.
//
// Threading: a Session lives on one executor (an io_context run by one thread). Every member must
// be called on that executor; the coroutine and callback forms complete there too. The blocking
// wrapper (blocking.hpp) does this for simple programs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "core/bytes.hpp"
#include "initiator/error.hpp"
#include "initiator/url.hpp"
#include "iscsi/chap.hpp"
#include "iscsi/params.hpp"
#include "iscsi/pdu.hpp"
#include "iscsi/transport.hpp"
#include "scsi/cdb.hpp"
#include "scsi/sense.hpp"

namespace iscsikit::initiator {

using namespace std::chrono_literals;

// The name we log in as when the caller gives none: this host's initiator name as open-iscsi
// keeps it (InitiatorName= in /etc/iscsi/initiatorname.iscsi), so targets' ACLs written for the
// kernel initiator admit us too; else iqn.2026-11.org.iscsikit:<hostname>.
std::string default_initiator_name();
inline constexpr const char* kOpenIscsiNameFile = "/etc/iscsi/initiatorname.iscsi";
// The InitiatorName= value of such a file's text ('#' comments, blanks around '='); empty when
// it has none.
std::string initiator_name_from_file(std::string_view text);

enum class PathPolicy : std::uint8_t {
    failover,     // one portal at a time; the next one when it fails
    round_robin,  // commands spread over every healthy portal (one session per portal)
};

struct SessionOptions {
    std::string initiator_name;  // empty: default_initiator_name()
    std::string initiator_alias;
    // More portals of the same target (multipath), besides the URL's own.
    std::vector<Portal> extra_portals;
    PathPolicy path_policy = PathPolicy::failover;

    std::chrono::milliseconds login_timeout = 10s;      // TCP connect + the whole login
    std::chrono::milliseconds command_timeout = 30s;    // default per command
    std::chrono::milliseconds nop_interval = 5s;        // ping when the target has been silent this long
    std::chrono::milliseconds nop_timeout = 10s;        // no answer this long: the connection is dead
    std::chrono::milliseconds abort_timeout = 5s;       // ABORT TASK unanswered this long: drop the connection
    std::chrono::milliseconds reconnect_timeout = 60s;  // give up and fail the queued commands after this
    std::chrono::milliseconds path_retry = 10s;         // a failed portal is tried again after this

    // CHAP (RFC 7143 §12.1.3): used when the URL carries no user%secret of its own.
    iscsi::ChapCredentials chap;
    // Mutual CHAP: what the target must answer our challenge with; empty: not asked.
    iscsi::ChapCredentials mutual_chap;
    std::vector<iscsi::ChapAlgorithm> chap_algorithms;  // offered in this order; empty: all, strongest first

    bool header_digest = false;  // offer CRC32C
    bool data_digest = false;
    std::uint32_t max_recv_data_segment_length = 262144;
    std::uint32_t max_burst_length = 16u << 20;
    std::uint32_t first_burst_length = 256u << 10;
    int unit_attention_retries = 10;  // a command answered UNIT ATTENTION is sent again this often

    // Tests: reach the target over this transport instead of TCP (e.g. the target's in-process
    // seam, target::Server::connect_in_process). Called for every (re)connection.
    std::function<std::unique_ptr<iscsi::ByteTransport>(asio::any_io_executor, const Portal&)> transport;
};

enum class DataDirection : std::uint8_t { none, read, write };

// One SCSI command. The buffers belong to the caller and must stay valid until completion.
struct Command {
    std::uint64_t lun = 0;
    scsi::Cdb cdb{};
    DataDirection direction = DataDirection::none;
    std::span<std::byte> read_buffer;       // direction == read: ExpectedDataTransferLength
    std::span<const std::byte> write_data;  // direction == write
    std::chrono::milliseconds timeout{0};   // 0: SessionOptions::command_timeout
    iscsi::TaskAttribute attribute = iscsi::TaskAttribute::simple;
};

// What the target answered. A CHECK CONDITION is a Completion, not an Error: the SCSI helpers
// (scsi_ops.hpp) turn non-GOOD statuses into Errors with readable messages.
struct Completion {
    scsi::Status status = scsi::Status::good;
    std::vector<std::uint8_t> sense;  // raw sense data as the target sent it (may be empty)
    std::uint32_t residual = 0;       // bytes not transferred (underflow) or not accepted (overflow)
    bool underflow = false;
    bool overflow = false;
    std::size_t transferred = 0;  // bytes of the buffer the command moved
    bool good() const { return status == scsi::Status::good; }
};

// One discovered target and its portals ("10.0.0.5:3260,1").
struct DiscoveredTarget {
    std::string name;
    std::vector<std::string> addresses;
};

// Counters for tools and tests.
struct SessionStats {
    std::uint64_t commands = 0;    // completed, successfully or not
    std::uint64_t reconnects = 0;  // successful re-logins after a lost connection
    std::uint64_t reissued = 0;    // commands sent again after a reconnect
    std::uint64_t unit_attention_retries = 0;
    std::uint64_t aborts = 0;        // ABORT TASK sent for timed-out commands
    std::uint64_t target_pings = 0;  // NOP-In pings from the target, answered
};

class SessionImpl;
class Multipath;

class Session {
public:
    using Callback = std::function<void(Result<Completion>)>;

    // Connects to url.portal (and opts.extra_portals), logs in to url.target as a normal session.
    // Fails with unreachable, target_not_found, auth_failed or login_failed within
    // opts.login_timeout (per portal tried).
    static asio::awaitable<Result<std::shared_ptr<Session>>> connect(asio::any_io_executor executor, Url url,
                                                                     SessionOptions opts = {});

    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Runs one command: queued while the CmdSN window is closed or a reconnect is under way.
    asio::awaitable<Result<Completion>> execute(Command cmd);
    // The same with a callback, invoked exactly once on the session's executor.
    void submit(Command cmd, Callback done);

    // Logs out (waiting for the commands in flight first) and closes. Commands submitted after
    // this fail with `closed`.
    asio::awaitable<void> logout();

    const iscsi::SessionParams& params() const;
    // Counters of the first (or only) path.
    const SessionStats& stats() const;
    const Url& url() const;
    // The portal the current connection goes to.
    Portal current_portal() const;
    // Commands accepted and not yet completed.
    std::size_t outstanding() const;

    // Counters summed over every path.
    SessionStats total_stats() const;
    // Multipath (round robin): how many paths there are and how many are logged in now.
    std::size_t path_count() const;
    std::size_t paths_up() const;

    explicit Session(std::shared_ptr<SessionImpl> impl, std::shared_ptr<Multipath> multipath = {});

private:
    std::shared_ptr<SessionImpl> impl_;     // the only path, or the first one of several
    std::shared_ptr<Multipath> multipath_;  // set with PathPolicy::round_robin and several portals
};

// SendTargets=All over a discovery session to `portal`, then logout.
asio::awaitable<Result<std::vector<DiscoveredTarget>>> discover(asio::any_io_executor executor, Url url,
                                                                SessionOptions opts = {});

}  // namespace iscsikit::initiator
