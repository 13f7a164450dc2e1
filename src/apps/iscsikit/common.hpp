// What every iscsikit subcommand shares: the common options, turning them into SessionOptions,
// connecting to a LUN, JSON output and the subcommand table main() dispatches through.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "initiator/scsi_ops.hpp"
#include "initiator/session.hpp"
#include "initiator/url.hpp"

namespace iscsikit::cli {

using initiator::Error;
using initiator::ErrorKind;
using initiator::Result;
using initiator::Session;
using initiator::Url;
// Keys in the order they are written, as docs/iscsikit.md shows them.
using Json = nlohmann::ordered_json;

struct CommonOptions {
    std::string initiator_name;
    double login_timeout = 10;
    double command_timeout = 30;
    double reconnect_timeout = 60;
    bool header_digest = false;
    bool data_digest = false;
    std::vector<std::string> portals;
    std::string multipath = "failover";
    int verbose = 0;
    bool json = false;
    // CHAP (when the URL carries no user%secret): names and secret files as given; the secrets
    // may also come from the environment (resolve_chap), never from the command line itself.
    std::string chap_user, chap_secret_file, mutual_user, mutual_secret_file;
    std::vector<std::string> chap_algorithms;
    // Filled by resolve_chap().
    iscsi::ChapCredentials chap, mutual_chap;
    std::vector<iscsi::ChapAlgorithm> chap_algorithm_ids;
};

// Settles the CHAP credentials from --chap-user/--chap-secret-file, --mutual-user/
// --mutual-secret-file and the environment (ISCSIKIT_CHAP_USER, ISCSIKIT_CHAP_SECRET,
// ISCSIKIT_MUTUAL_USER, ISCSIKIT_MUTUAL_SECRET); options win over the environment. An error
// says what is missing or wrong (a secret file others may read, a user without a secret).
Result<void> resolve_chap(CommonOptions& common);

// Adds the common options (and --json when the subcommand prints JSON) to `sub`.
void add_common_options(CLI::App& sub, CommonOptions& common, bool with_json);
initiator::SessionOptions session_options(const CommonOptions& common);

// CLI11 checks, so that bad values are usage errors: a size ("4k") and a portal ("host:port").
CLI::Validator size_check();
CLI::Validator portal_check();
std::uint64_t size_value(const std::string& text);  // after size_check() passed

// The subcommand's body, run on the tool's io_context.
using CommandBody = std::function<asio::awaitable<Result<void>>(asio::any_io_executor)>;
struct Subcommand {
    CLI::App* app = nullptr;
    CommandBody body;
};
Subcommand add_discover(CLI::App& parent, CommonOptions& common);
Subcommand add_ls(CLI::App& parent, CommonOptions& common);
Subcommand add_inquiry(CLI::App& parent, CommonOptions& common);
Subcommand add_readcap(CLI::App& parent, CommonOptions& common);
Subcommand add_cp(CLI::App& parent, CommonOptions& common);
Subcommand add_bench(CLI::App& parent, CommonOptions& common);
Subcommand add_mount(CLI::App& parent, CommonOptions& common);
Subcommand add_umount(CLI::App& parent, CommonOptions& common);
Subcommand add_admin(CLI::App& parent, CommonOptions& common);

// The one rule for a URL's LUN, in every subcommand: a URL that names a LUN means that LUN, and
// a LUN the target does not report is an error (require_lun).
// "iscsi://..." naming a target, its LUN as written (none: the subcommand's whole target).
Result<Url> parse_target_url(std::string_view text);
// The same for a subcommand that works on one LUN: 0 when the URL names none.
Result<Url> parse_lun_url(std::string_view text);
bool is_iscsi_url(std::string_view text);

// "LUN 0 of iqn.2026-11.x:disk", for messages.
std::string lun_name(const Url& url, std::uint64_t lun);

// Connects and logs in to url's target with the common options.
asio::awaitable<Result<std::shared_ptr<Session>>> connect(asio::any_io_executor executor, const Url& url,
                                                          const CommonOptions& common);
// no_such_lun ("LUN 7 not found on iqn.x (target reports LUNs 0, 1)") when REPORT LUNS does not
// list `lun`. A target that cannot answer REPORT LUNS is given the benefit of the doubt.
asio::awaitable<Result<void>> require_lun(Session& session, std::uint64_t lun);

// Connects, runs body(session) and logs out whatever body returned.
asio::awaitable<Result<void>> with_session(asio::any_io_executor executor, const Url& url, const CommonOptions& common,
                                           std::function<asio::awaitable<Result<void>>(Session&)> body);

// parse_lun_url(text), with_session, require_lun, then body(session, lun).
asio::awaitable<Result<void>> with_lun(asio::any_io_executor executor, std::string_view text,
                                       const CommonOptions& common,
                                       std::function<asio::awaitable<Result<void>>(Session&, std::uint64_t)> body);

// One JSON document on stdout (bytes that are not UTF-8 replaced, never an exception).
void print_json(const Json& document);

}  // namespace iscsikit::cli
