// The public Session: a thin handle over SessionImpl, the coroutine and callback forms.
#include "initiator/session.hpp"

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include <asio/async_result.hpp>
#include <asio/use_awaitable.hpp>

#include "initiator/data_in.hpp"
#include "initiator/multipath.hpp"
#include "initiator/session_impl.hpp"

namespace iscsikit::initiator {

const char* data_in_error_name(DataInError e) {
    switch (e) {
        case DataInError::none: return "no error";
        case DataInError::beyond_buffer: return "data beyond the end of the buffer";
        case DataInError::out_of_order: return "data offset out of order";
        case DataInError::bad_data_sn: return "unexpected DataSN";
        case DataInError::not_a_read: return "Data-In for a command that reads nothing";
    }
    return "?";
}

std::string initiator_name_from_file(std::string_view text) {
    constexpr std::string_view kBlank = " \t\r";
    auto trim = [kBlank](std::string_view s) {
        const auto first = s.find_first_not_of(kBlank);
        if (first == std::string_view::npos) return std::string_view{};
        return s.substr(first, s.find_last_not_of(kBlank) - first + 1);
    };
    while (!text.empty()) {
        const auto end = text.find('\n');
        std::string_view line = trim(text.substr(0, end));
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        if (line.empty() || line.front() == '#') continue;
        const auto eq = line.find('=');
        if (eq == std::string_view::npos || trim(line.substr(0, eq)) != "InitiatorName") continue;
        return std::string(trim(line.substr(eq + 1)));
    }
    return {};
}

std::string default_initiator_name() {
    if (std::ifstream file{kOpenIscsiNameFile}) {
        std::ostringstream text;
        text << file.rdbuf();
        if (auto name = initiator_name_from_file(text.str()); !name.empty()) return name;
    }
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "localhost");
    // RFC 3722: iSCSI names are lowercase; keep letters, digits, '-', '.'.
    std::string name = "iqn.2026-11.org.iscsikit:";
    for (const char* p = host; *p; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        name += std::isalnum(c) || c == '-' || c == '.' ? static_cast<char>(std::tolower(c)) : '-';
    }
    return name;
}

Session::Session(std::shared_ptr<SessionImpl> impl, std::shared_ptr<Multipath> multipath)
    : impl_(std::move(impl)), multipath_(std::move(multipath)) {}

Session::~Session() {
    if (multipath_) multipath_->shutdown();
    if (impl_) impl_->shutdown();
}

namespace {

// PathPolicy::round_robin: one session per portal, each with its own ISID. Paths that cannot log
// in now keep trying in the background; the session exists once one path is up.
asio::awaitable<Result<std::shared_ptr<Session>>> connect_round_robin(asio::any_io_executor executor, Url url,
                                                                      SessionOptions opts) {
    std::vector<Portal> portals{url.portal};
    for (const auto& p : opts.extra_portals)
        if (!(p == url.portal)) portals.push_back(p);
    SessionOptions per_path = opts;
    per_path.extra_portals.clear();
    per_path.reconnect_timeout = std::chrono::hours(24 * 365);  // Multipath decides when to give up
    std::vector<std::shared_ptr<SessionImpl>> paths;
    std::vector<std::string> failures;
    std::optional<Error> best;
    for (const auto& portal : portals) {
        Url one = url;
        one.portal = portal;
        auto path = std::make_shared<SessionImpl>(executor, one, per_path);
        auto logged_in = co_await path->first_login();
        if (!logged_in) {
            failures.push_back(logged_in.error().message);
            if (!best || best->kind == ErrorKind::unreachable) best = logged_in.error();
        }
        paths.push_back(std::move(path));
    }
    if (failures.size() == paths.size()) co_return tl::unexpected(*best);
    for (std::size_t i = 0, f = 0; i < paths.size(); ++i)
        if (!paths[i]->up()) paths[i]->start_reconnecting(failures[f++]);
    auto multipath = std::make_shared<Multipath>(executor, paths, opts.reconnect_timeout);
    multipath->start();
    auto first = paths.front();
    co_return std::make_shared<Session>(first, multipath);
}

}  // namespace

asio::awaitable<Result<std::shared_ptr<Session>>> Session::connect(asio::any_io_executor executor, Url url,
                                                                   SessionOptions opts) {
    if (url.target.empty())
        co_return fail(ErrorKind::invalid_argument, "the URL " + url.to_string() + " names no target");
    if (opts.path_policy == PathPolicy::round_robin && !opts.extra_portals.empty()) {
        auto multipath = co_await connect_round_robin(executor, std::move(url), std::move(opts));
        co_return multipath;
    }
    auto impl = std::make_shared<SessionImpl>(executor, std::move(url), std::move(opts));
    auto logged_in = co_await impl->first_login();
    if (!logged_in) co_return tl::unexpected(logged_in.error());
    co_return std::make_shared<Session>(std::move(impl));
}

asio::awaitable<Result<Completion>> Session::execute(Command cmd) {
    // Not a coroutine itself: the awaitable async_initiate returns completes when the task does.
    return asio::async_initiate<decltype(asio::use_awaitable), void(Result<Completion>)>(
        [impl = impl_, multipath = multipath_, cmd](auto handler) mutable {
            Completed done(
                [handler = std::move(handler)](Result<Completion> r) mutable { std::move(handler)(std::move(r)); });
            if (multipath)
                multipath->submit(cmd, std::move(done));
            else
                impl->submit(cmd, std::move(done));
        },
        asio::use_awaitable);
}

void Session::submit(Command cmd, Callback done) {
    if (multipath_)
        multipath_->submit(cmd, Completed(std::move(done)));
    else
        impl_->submit(cmd, Completed(std::move(done)));
}

asio::awaitable<void> Session::logout() {
    if (multipath_)
        for (const auto& path : multipath_->paths()) co_await path->logout();
    else
        co_await impl_->logout();
}

const iscsi::SessionParams& Session::params() const { return impl_->params(); }
const SessionStats& Session::stats() const { return impl_->stats(); }
const Url& Session::url() const { return impl_->url(); }
Portal Session::current_portal() const { return impl_->current_portal(); }
std::size_t Session::outstanding() const {
    if (!multipath_) return impl_->outstanding();
    std::size_t n = 0;
    for (const auto& path : multipath_->paths()) n += path->outstanding();
    return n;
}

SessionStats Session::total_stats() const {
    if (!multipath_) return impl_->stats();
    SessionStats sum;
    for (const auto& path : multipath_->paths()) {
        const auto& s = path->stats();
        sum.commands += s.commands;
        sum.reconnects += s.reconnects;
        sum.reissued += s.reissued;
        sum.unit_attention_retries += s.unit_attention_retries;
        sum.aborts += s.aborts;
        sum.target_pings += s.target_pings;
    }
    return sum;
}

std::size_t Session::path_count() const { return multipath_ ? multipath_->paths().size() : 1; }

std::size_t Session::paths_up() const {
    if (!multipath_) return impl_->up() ? 1 : 0;
    std::size_t n = 0;
    for (const auto& path : multipath_->paths()) n += path->up();
    return n;
}

}  // namespace iscsikit::initiator
