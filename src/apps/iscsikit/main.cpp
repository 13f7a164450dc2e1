// iscsikit: the command-line iSCSI client. One subcommand per file; this file parses the command
// line, runs the chosen subcommand's coroutine on one io_context and turns the outcome into the
// exit status of docs/iscsikit.md (0 success, 1 an error, 2 a usage error).
#include <csignal>
#include <exception>
#include <iostream>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "common.hpp"
#include "core/log.hpp"

using namespace iscsikit;
using namespace iscsikit::cli;

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int report(const std::string& message) {
    std::cerr << "iscsikit: " << message << "\n";
    return kExitError;
}

int run(const CommandBody& body) {
    asio::io_context context{1};
    cli::Result<void> result = initiator::fail(ErrorKind::protocol_error, "the command did not finish");
    asio::co_spawn(context, body(context.get_executor()), [&](const std::exception_ptr& e, cli::Result<void> done) {
        if (e) std::rethrow_exception(e);
        result = std::move(done);
    });
    context.run();
    if (!result) return report(result.error().message);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"iscsikit: an iSCSI client (discovery, LUN listing, INQUIRY, copy, benchmark, FUSE mount)",
                 "iscsikit"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "iscsikit 0.1.0");
    CommonOptions common;
    const Subcommand subcommands[] = {
        add_discover(app, common), add_ls(app, common),     add_inquiry(app, common),
        add_readcap(app, common),  add_cp(app, common),     add_bench(app, common),
        add_mount(app, common),    add_umount(app, common), add_admin(app, common),
    };
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);
        return status == 0 ? 0 : kExitUsage;  // CLI11 uses 106 and others; the contract says 2
    }

    // The session subcommands log in with these; admin reads $ISCSIKIT_CHAP_SECRET as the secret to set.
    const bool admin = app.got_subcommand("admin");
    if (auto chap = admin ? cli::Result<void>{} : cli::resolve_chap(common); !chap) {
        std::cerr << "iscsikit: " << chap.error().message << "\n";
        return kExitUsage;
    }

    // Logs go to stderr: stdout carries the results (and JSON).
    spdlog::set_default_logger(spdlog::stderr_color_mt("iscsikit"));
    setup_logging(common.verbose >= 2 ? "debug" : common.verbose == 1 ? "info" : "warn", STDERR_FILENO);
    std::signal(SIGPIPE, SIG_IGN);

    try {
        for (const auto& sub : subcommands)
            if (sub.app->parsed()) return run(sub.body);
    } catch (const std::exception& e) {
        return report(std::string("internal error: ") + e.what());
    }
    return kExitUsage;
}
