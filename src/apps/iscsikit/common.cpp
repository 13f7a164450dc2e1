#include "common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "core/secret_file.hpp"
#include "initiator/format.hpp"

namespace iscsikit::cli {

namespace {

std::chrono::milliseconds from_seconds(double seconds) {
    return std::chrono::milliseconds(std::llround(seconds * 1000.0));
}

// A CLI11 check from a parser returning a Result: its error message becomes CLI11's.
template <class Parse>
CLI::Validator result_check(Parse parse, std::string name) {
    return CLI::Validator(
        [parse](const std::string& text) {
            auto parsed = parse(text);
            return parsed ? std::string() : parsed.error().message;
        },
        std::move(name));
}

}  // namespace

void add_common_options(CLI::App& sub, CommonOptions& common, bool with_json) {
    const std::string group = "Session options";
    sub.add_option("--initiator-name", common.initiator_name,
                   "initiator IQN (default " + initiator::default_initiator_name() + ")")
        ->group(group);
    sub.add_option("--login-timeout", common.login_timeout, "seconds for TCP connect + login, per portal")
        ->check(CLI::PositiveNumber)
        ->capture_default_str()
        ->group(group);
    sub.add_option("--timeout", common.command_timeout, "seconds per SCSI command")
        ->check(CLI::PositiveNumber)
        ->capture_default_str()
        ->group(group);
    sub.add_option("--reconnect-timeout", common.reconnect_timeout,
                   "seconds a lost connection is retried before commands fail")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str()
        ->group(group);
    sub.add_flag("--header-digest", common.header_digest, "offer CRC32C header digests")->group(group);
    sub.add_flag("--data-digest", common.data_digest, "offer CRC32C data digests")->group(group);
    sub.add_option("--portal", common.portals, "HOST:PORT of another portal of the same target (repeatable)")
        ->check(portal_check())
        ->group(group);
    sub.add_option("--multipath", common.multipath, "how several portals are used")
        ->check(CLI::IsMember({"failover", "round-robin"}))
        ->capture_default_str()
        ->group(group);
    sub.add_option("--chap-user", common.chap_user,
                   "CHAP name to present when the URL has no user%secret (or $ISCSIKIT_CHAP_USER)")
        ->group(group);
    sub.add_option("--chap-secret-file", common.chap_secret_file,
                   "file holding the CHAP secret, mode 600 (or $ISCSIKIT_CHAP_SECRET)")
        ->group(group);
    sub.add_option("--mutual-user", common.mutual_user,
                   "mutual CHAP: the name the target must answer with (or $ISCSIKIT_MUTUAL_USER)")
        ->group(group);
    sub.add_option("--mutual-secret-file", common.mutual_secret_file,
                   "mutual CHAP: file holding the target's secret, mode 600 (or $ISCSIKIT_MUTUAL_SECRET)")
        ->group(group);
    sub.add_option("--chap-algorithms", common.chap_algorithms,
                   "CHAP algorithms to offer, in order (SHA3-256, SHA256, SHA1, MD5; default all, strongest first)")
        ->delimiter(',')
        ->group(group);
    sub.add_flag("-v,--verbose", common.verbose, "log at info level (twice: debug)")->group(group);
    if (with_json) sub.add_flag("--json", common.json, "print one JSON document on stdout");
}

namespace {

std::string environment(const char* name) {
    const char* value = std::getenv(name);
    return value ? std::string(value) : std::string();
}

// One direction's credentials: the user from its option or variable, the secret from its file
// or variable; both or neither.
Result<iscsi::ChapCredentials> credentials(const std::string& user_option, const char* user_variable,
                                           const std::string& file_option, const char* secret_variable,
                                           std::string_view what) {
    iscsi::ChapCredentials out;
    out.user = user_option.empty() ? environment(user_variable) : user_option;
    if (!file_option.empty()) {
        auto secret = read_secret_file(file_option);
        if (!secret) return initiator::fail(ErrorKind::invalid_argument, secret.error().message);
        out.secret = std::move(*secret);
    } else {
        out.secret = environment(secret_variable);
    }
    if (out.user.empty() && !out.secret.empty())
        return initiator::fail(ErrorKind::invalid_argument,
                               fmt::format("{}: a secret without a user (give --{}-user or ${})", what,
                                           what == "CHAP" ? "chap" : "mutual", user_variable));
    if (!out.user.empty() && out.secret.empty())
        return initiator::fail(ErrorKind::invalid_argument,
                               fmt::format("{}: user '{}' has no secret (give --{}-secret-file or ${})", what, out.user,
                                           what == "CHAP" ? "chap" : "mutual", secret_variable));
    return out;
}

}  // namespace

Result<void> resolve_chap(CommonOptions& common) {
    auto chap =
        credentials(common.chap_user, "ISCSIKIT_CHAP_USER", common.chap_secret_file, "ISCSIKIT_CHAP_SECRET", "CHAP");
    if (!chap) return tl::unexpected(chap.error());
    auto mutual = credentials(common.mutual_user, "ISCSIKIT_MUTUAL_USER", common.mutual_secret_file,
                              "ISCSIKIT_MUTUAL_SECRET", "mutual CHAP");
    if (!mutual) return tl::unexpected(mutual.error());
    common.chap = std::move(*chap);
    common.mutual_chap = std::move(*mutual);
    common.chap_algorithm_ids.clear();
    for (const auto& name : common.chap_algorithms) {
        const auto* algorithm = iscsi::find_chap_algorithm(name);
        if (!algorithm)
            return initiator::fail(ErrorKind::invalid_argument,
                                   fmt::format("--chap-algorithms: '{}' is not SHA3-256, SHA256, SHA1 or MD5", name));
        common.chap_algorithm_ids.push_back(algorithm->id);
    }
    return {};
}

initiator::SessionOptions session_options(const CommonOptions& common) {
    initiator::SessionOptions opts;
    opts.chap = common.chap;
    opts.mutual_chap = common.mutual_chap;
    opts.chap_algorithms = common.chap_algorithm_ids;
    opts.initiator_name = common.initiator_name;
    opts.login_timeout = from_seconds(common.login_timeout);
    opts.command_timeout = from_seconds(common.command_timeout);
    opts.reconnect_timeout = from_seconds(common.reconnect_timeout);
    opts.header_digest = common.header_digest;
    opts.data_digest = common.data_digest;
    for (const auto& text : common.portals) opts.extra_portals.push_back(*initiator::parse_portal(text));
    opts.path_policy =
        common.multipath == "round-robin" ? initiator::PathPolicy::round_robin : initiator::PathPolicy::failover;
    return opts;
}

CLI::Validator size_check() { return result_check(initiator::parse_size, "SIZE"); }

CLI::Validator portal_check() { return result_check(initiator::parse_portal, "HOST:PORT"); }

std::uint64_t size_value(const std::string& text) { return initiator::parse_size(text).value(); }

bool is_iscsi_url(std::string_view text) { return text.starts_with("iscsi://"); }

Result<Url> parse_target_url(std::string_view text) {
    auto url = initiator::parse_url(text);
    if (!url) return url;
    if (url->target.empty())
        return initiator::fail(ErrorKind::invalid_argument,
                               fmt::format("'{}' names no target (iscsi://HOST[:PORT]/TARGET-IQN[/LUN])", text));
    return url;
}

Result<Url> parse_lun_url(std::string_view text) {
    auto url = parse_target_url(text);
    if (url && !url->lun) url->lun = 0;
    return url;
}

std::string lun_name(const Url& url, std::uint64_t lun) { return fmt::format("LUN {} of {}", lun, url.target); }

asio::awaitable<Result<std::shared_ptr<Session>>> connect(asio::any_io_executor executor, const Url& url,
                                                          const CommonOptions& common) {
    auto opts = session_options(common);
    auto session = co_await Session::connect(std::move(executor), url, std::move(opts));
    co_return session;
}

asio::awaitable<Result<void>> require_lun(Session& session, std::uint64_t lun) {
    auto luns = co_await initiator::report_luns(session);
    if (!luns) {
        // Only a SCSI answer ("REPORT LUNS not supported") lets us go on and try the LUN itself.
        if (luns.error().kind == ErrorKind::scsi_error || luns.error().kind == ErrorKind::protocol_error)
            co_return Result<void>{};
        co_return tl::unexpected(luns.error());
    }
    if (std::find(luns->begin(), luns->end(), lun) != luns->end()) co_return Result<void>{};
    std::sort(luns->begin(), luns->end());
    const std::string listed = luns->empty() ? "no LUNs" : fmt::format("LUNs {}", fmt::join(*luns, ", "));
    co_return initiator::fail(ErrorKind::no_such_lun, fmt::format("LUN {} not found on {} (target reports {})", lun,
                                                                  session.url().target, listed));
}

asio::awaitable<Result<void>> with_session(asio::any_io_executor executor, const Url& url, const CommonOptions& common,
                                           std::function<asio::awaitable<Result<void>>(Session&)> body) {
    auto session = co_await connect(executor, url, common);
    if (!session) co_return tl::unexpected(session.error());
    auto result = co_await body(**session);
    co_await (*session)->logout();
    co_return result;
}

asio::awaitable<Result<void>> with_lun(asio::any_io_executor executor, std::string_view text,
                                       const CommonOptions& common,
                                       std::function<asio::awaitable<Result<void>>(Session&, std::uint64_t)> body) {
    auto url = parse_lun_url(text);
    if (!url) co_return tl::unexpected(url.error());
    const std::uint64_t lun = *url->lun;
    std::function<asio::awaitable<Result<void>>(Session&)> checked =
        [&](Session& session) -> asio::awaitable<Result<void>> {
        auto present = co_await require_lun(session, lun);
        if (!present) co_return present;
        auto done = co_await body(session, lun);
        co_return done;
    };
    auto done = co_await with_session(executor, *url, common, std::move(checked));
    co_return done;
}

void print_json(const Json& document) {
    std::cout << document.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
}

}  // namespace iscsikit::cli
