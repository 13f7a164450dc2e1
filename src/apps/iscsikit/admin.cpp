// iscsikit admin VERB...: the daemon's management socket (JSON-RPC 2.0, one request per line;
// docs/management.md). Each verb is one method; --json prints the method's result as it came.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "common.hpp"
#include "core/ascii.hpp"
#include "core/secret_file.hpp"

namespace iscsikit::cli {

namespace {

constexpr const char* kDefaultSocket = "/run/iscsikit/rpc.sock";

struct AdminArgs {
    std::string socket;
    std::vector<std::string> words;
    std::string initiator, secret_file;
    bool mutual = false;
    bool readonly = false;                    // acl map
    std::vector<std::string> portals, allow;  // target add
    std::string alias;
    std::optional<std::uint64_t> lun;  // lun add
};

// A usage problem or a daemon that cannot be reached or answered (exit 1; usage errors are the
// tool's usual invalid_argument).
auto admin_fail(std::string message, ErrorKind kind = ErrorKind::invalid_argument) {
    return initiator::fail(kind, "admin: " + std::move(message));
}

// One request out, one line back.
Result<Json> call(const std::string& path, const std::string& method, const Json& params) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return admin_fail(std::strerror(errno));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) {
        ::close(fd);
        return admin_fail(fmt::format("socket path {} is too long", path));
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const timeval timeout{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        const int error = errno;
        ::close(fd);
        return admin_fail(fmt::format(
            "cannot reach the daemon at {}: {} (is it running with --rpc-socket or rpc_socket, and may you open it?)",
            path, std::strerror(error)));
    }
    const std::string line = Json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}, {"id", 1}}.dump() + "\n";
    for (std::size_t done = 0; done < line.size();) {
        const ssize_t n = ::send(fd, line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n <= 0) {
            ::close(fd);
            return admin_fail(fmt::format("sending to {}: {}", path, std::strerror(errno)));
        }
        done += static_cast<std::size_t>(n);
    }
    std::string answer;
    char chunk[4096];
    while (answer.find('\n') == std::string::npos) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) {
            ::close(fd);
            return admin_fail(fmt::format("no answer from {}", path));
        }
        answer.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    Json response = Json::parse(answer.substr(0, answer.find('\n')), nullptr, false);
    if (response.is_discarded() || !response.is_object()) return admin_fail("the daemon's answer is not JSON");
    if (response.contains("error"))
        return admin_fail(fmt::format("{}: {}", method, response["error"].value("message", "?")),
                          ErrorKind::login_failed);
    return response["result"];
}

std::string or_none(const Json& chap) { return chap.is_null() ? "-" : chap["user"].get<std::string>(); }

void print_ls(const Json& result) {
    for (const auto& t : result["targets"]) {
        std::cout << t["iqn"].get<std::string>() << "\n";
        std::string portals;
        for (const auto& p : t["portals"]) portals += (portals.empty() ? "" : " ") + p.get<std::string>();
        std::cout << "  portals: " << portals << "\n";
        for (const auto& l : t["luns"])
            std::cout << "  LUN " << l["lun"] << ": " << l["spec"].get<std::string>() << "\n";
        std::string allow;
        for (const auto& a : t["allow"]) allow += (allow.empty() ? "" : " ") + a.get<std::string>();
        std::cout << "  allow: " << (allow.empty() ? "(any initiator)" : allow) << "\n";
        std::cout << "  chap: " << or_none(t["chap"]) << ", mutual: " << or_none(t["mutual_chap"]) << "\n";
        for (const auto& e : t["initiators"]) {
            std::cout << "  initiator " << e["name"].get<std::string>() << ": chap " << or_none(e["chap"]);
            for (const auto& m : e["luns"])
                std::cout << ", LUN " << m["lun"] << " = target LUN " << m["target_lun"]
                          << (m["readonly"].get<bool>() ? " (read-only)" : "");
            std::cout << "\n";
        }
    }
}

void print_sessions(const Json& result) {
    std::cout << fmt::format("{:<6} {:<40} {:<14} {:<22} {}\n", "TSIH", "INITIATOR", "ISID", "FROM", "TARGET");
    for (const auto& s : result["sessions"])
        std::cout << fmt::format("{:<6} {:<40} {:<14} {:<22} {}\n", s["tsih"].get<int>(),
                                 s["initiator"].get<std::string>(), s["isid"].get<std::string>(),
                                 s["remote"].get<std::string>(),
                                 s["target"].is_null() ? std::string("(discovery)") : s["target"].get<std::string>());
}

void print_stats(const Json& result) {
    std::cout << fmt::format("{:<44} {:>5} {:>14} {:>12} {:>12} {:>16} {:>16} {:>8}\n", "TARGET", "LUN", "SIZE",
                             "READS", "WRITES", "READ BYTES", "WRITTEN BYTES", "ERRORS");
    for (const auto& t : result["targets"])
        for (const auto& l : t["luns"]) {
            const auto& c = l["commands"];
            auto get = [&](const char* kind, const char* what) -> std::uint64_t {
                return c.contains(kind) ? c[kind][what].get<std::uint64_t>() : 0;
            };
            std::cout << fmt::format("{:<44} {:>5} {:>14} {:>12} {:>12} {:>16} {:>16} {:>8}\n",
                                     t["iqn"].get<std::string>(), l["lun"].get<std::uint64_t>(),
                                     l["size"].get<std::uint64_t>(), get("read", "commands"), get("write", "commands"),
                                     get("read", "bytes"), get("write", "bytes"),
                                     get("read", "errors") + get("write", "errors") + get("other", "errors"));
        }
}

Result<std::string> chap_secret(const AdminArgs& args) {
    if (!args.secret_file.empty()) {
        auto secret = read_secret_file(args.secret_file);
        if (!secret) return admin_fail(secret.error().message);
        return *secret;
    }
    if (const char* secret = std::getenv("ISCSIKIT_CHAP_SECRET"); secret && *secret) return std::string(secret);
    return admin_fail("chap set needs the secret in --secret-file FILE (mode 600) or $ISCSIKIT_CHAP_SECRET");
}

Result<void> run(const CommonOptions& common, const AdminArgs& args) {
    const auto& w = args.words;
    const std::string path = !args.socket.empty()                 ? args.socket
                             : std::getenv("ISCSIKIT_RPC_SOCKET") ? std::getenv("ISCSIKIT_RPC_SOCKET")
                                                                  : kDefaultSocket;
    auto usage = [&](const std::string& why) { return admin_fail(why); };
    auto is = [&](std::initializer_list<std::string_view> words) {
        if (w.size() != words.size()) return false;
        std::size_t i = 0;
        for (auto word : words) {
            if (word != "*" && w[i] != word) return false;
            ++i;
        }
        return true;
    };
    std::string method;
    Json params = Json::object();
    if (is({"ls"})) {
        method = "ls";
    } else if (is({"session", "ls"})) {
        method = "session.ls";
    } else if (is({"session", "close", "*"})) {
        method = "session.close";
        auto tsih = parse_decimal(w[2], 0xffff);
        if (!tsih || *tsih == 0) return usage(fmt::format("session close: '{}' is not a TSIH (1 to 65535)", w[2]));
        params["tsih"] = *tsih;
    } else if (is({"acl", "add", "*", "*"}) || is({"acl", "rm", "*", "*"})) {
        method = w[1] == "add" ? "acl.add" : "acl.rm";
        params = {{"target", w[2]}, {"initiator", w[3]}};
    } else if (is({"acl", "map", "*", "*", "*"}) || is({"acl", "map", "*", "*", "*", "*"}) ||
               is({"acl", "unmap", "*", "*", "*"})) {
        method = w[1] == "map" ? "acl.map" : "acl.unmap";
        params = {{"target", w[2]}, {"initiator", w[3]}};
        for (std::size_t i = 4; i < w.size(); ++i) {
            auto lun = parse_decimal(w[i], 16383);
            if (!lun) return usage(fmt::format("acl {}: '{}' is not a LUN number (0 to 16383)", w[1], w[i]));
            params[i == 4 ? "lun" : "target_lun"] = *lun;
        }
        if (args.readonly) params["readonly"] = true;
    } else if (is({"chap", "set", "*", "*"})) {
        auto secret = chap_secret(args);
        if (!secret) return tl::unexpected(secret.error());
        method = "chap.set";
        params = {{"target", w[2]}, {"user", w[3]}, {"secret", *secret}, {"mutual", args.mutual}};
        if (!args.initiator.empty()) params["initiator"] = args.initiator;
    } else if (is({"chap", "clear", "*"})) {
        method = "chap.set";
        params = {{"target", w[2]}, {"mutual", args.mutual}};
        if (!args.initiator.empty()) params["initiator"] = args.initiator;
    } else if (is({"target", "add", "*"})) {
        if (args.portals.empty()) return usage("target add: say where it listens with --portal HOST:PORT");
        method = "target.add";
        params = {{"iqn", w[2]}, {"portals", args.portals}, {"allow", args.allow}};
        if (!args.alias.empty()) params["alias"] = args.alias;
    } else if (is({"target", "rm", "*"})) {
        method = "target.rm";
        params = {{"iqn", w[2]}};
    } else if (is({"lun", "add", "*", "*"})) {
        method = "lun.add";
        params = {{"target", w[2]}, {"spec", w[3]}};
        if (args.lun) params["lun"] = *args.lun;
    } else if (is({"lun", "rm", "*", "*"}) || is({"lun", "resize", "*", "*", "*"})) {
        auto lun = parse_decimal(w[3], 16383);
        if (!lun) return usage(fmt::format("lun {}: '{}' is not a LUN number (0 to 16383)", w[1], w[3]));
        method = w[1] == "rm" ? "lun.rm" : "lun.resize";
        params = {{"target", w[2]}, {"lun", *lun}};
        if (w[1] == "resize") params["size"] = w[4];
    } else if (is({"lun", "alua", "*", "*", "*"})) {
        auto lun = parse_decimal(w[3], 16383);
        if (!lun) return usage(fmt::format("lun alua: '{}' is not a LUN number (0 to 16383)", w[3]));
        method = "lun.alua";
        params = {{"target", w[2]}, {"lun", *lun}, {"state", w[4]}};
    } else if (is({"stats"})) {
        method = "stats";
    } else if (is({"save"}) || is({"save", "*"})) {
        method = "save";
        if (w.size() == 2) params["path"] = w[1];
    } else if (is({"reload"})) {
        method = "reload";
    } else {
        return usage(
            "expected one of: ls | stats | target add IQN --portal HOST:PORT [--alias A] [--allow IQN] | "
            "target rm IQN | lun add TARGET SPEC [--lun N] | lun rm TARGET LUN | lun resize TARGET LUN SIZE | "
            "lun alua TARGET LUN STATE | session ls | session close TSIH | acl add|rm TARGET IQN | acl map TARGET IQN "
            "LUN [TARGET_LUN] "
            "[--readonly] | acl unmap TARGET IQN LUN | chap set TARGET USER "
            "[--initiator IQN] [--mutual] | chap clear TARGET [--initiator IQN] [--mutual] | save [PATH] | reload");
    }
    auto result = call(path, method, params);
    if (!result) return tl::unexpected(result.error());
    if (common.json) {
        print_json(*result);
    } else if (method == "ls" || method.starts_with("acl.") || method == "chap.set" || method == "target.add") {
        print_ls(*result);
    } else if (method == "stats") {
        print_stats(*result);
    } else if (method == "session.ls") {
        print_sessions(*result);
    } else if (method == "reload") {
        for (const auto& a : (*result)["applied"]) std::cout << "applied: " << a.get<std::string>() << "\n";
        for (const auto& a : (*result)["needs_restart"])
            std::cout << "needs a restart: " << a.get<std::string>() << "\n";
    } else {
        std::cout << result->dump() << "\n";
    }
    return {};
}

}  // namespace

Subcommand add_admin(CLI::App& parent, CommonOptions& common) {
    auto args = std::make_shared<AdminArgs>();
    auto* sub = parent.add_subcommand("admin", "manage a running iscsikit-target through its management socket");
    sub->add_option(
        "--socket", args->socket,
        std::string("the daemon's management socket (default $ISCSIKIT_RPC_SOCKET or ") + kDefaultSocket + ")");
    sub->add_option("--initiator", args->initiator, "chap set/clear: that initiator's own credentials");
    sub->add_option("--secret-file", args->secret_file, "chap set: file holding the secret (mode 600)");
    sub->add_flag("--mutual", args->mutual, "chap set/clear: what the target answers with (mutual CHAP)");
    sub->add_option("--portal", args->portals, "target add: a portal it is served on (repeatable)");
    sub->add_option("--alias", args->alias, "target add: its TargetAlias");
    sub->add_option("--allow", args->allow, "target add: an initiator allowed to log in ('*': anyone; repeatable)");
    sub->add_option("--lun", args->lun, "lun add: its number (default: the lowest free)");
    sub->add_flag("--readonly", args->readonly, "acl map: the initiator may only read that LUN");
    sub->add_flag("--json", common.json, "print the daemon's answer as JSON");
    sub->add_option("verb", args->words,
                    "ls | stats | target add|rm | lun add|rm|resize | session ls|close | acl add|rm|map|unmap | "
                    "chap set|clear | "
                    "save | reload")
        ->required();
    return {sub,
            [args, &common](asio::any_io_executor) -> asio::awaitable<Result<void>> { co_return run(common, *args); }};
}

}  // namespace iscsikit::cli
