// iscsikit mount URL MOUNTPOINT: each LUN of the target (or the one LUN the URL names) as a file
// MOUNTPOINT/lun<N>, served by FUSE (mount/fuse_fs.hpp) until unmounted; iscsikit umount
// MOUNTPOINT unmounts it and waits until the mount has logged out. docs/iscsikit.md has the
// contract: the mount logs in before it returns, and a mount that cannot log in exits 1 with one
// line and mounts nothing.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include "common.hpp"
#include "mount/fuse_fs.hpp"
#include "mount/mount_table.hpp"

namespace iscsikit::cli {

namespace {

struct MountArgs {
    std::string url;
    std::string mountpoint;
    bool read_only = false;
    bool foreground = false;
    bool allow_other = false;
    std::string log_file;
};

struct UmountArgs {
    std::string mountpoint;
    double timeout = 60;
};

// The mount point as the kernel will list it: absolute, symbolic links resolved; it must be a
// directory.
Result<std::string> resolve_mountpoint(const std::string& path) {
    char resolved[PATH_MAX];
    if (!::realpath(path.c_str(), resolved))
        return initiator::fail(ErrorKind::invalid_argument, fmt::format("{}: {}", path, std::strerror(errno)));
    struct stat st {};
    if (::stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode))
        return initiator::fail(ErrorKind::invalid_argument, fmt::format("{}: not a directory", path));
    return std::string(resolved);
}

// Tells the process that started the mount how it went: a byte on a pipe once the mount is up;
// nothing (the pipe closes when this process exits) when it failed, after the error was printed
// on the terminal both processes share.
class Starter {
public:
    // Forks: the parent waits for the child's word and exits with it (never returns); the child
    // returns, in a session of its own.
    static Result<Starter> daemonize(asio::any_io_executor executor) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0)
            return initiator::fail(ErrorKind::invalid_argument, fmt::format("pipe: {}", std::strerror(errno)));
        std::fflush(nullptr);
        const pid_t child = ::fork();
        if (child < 0)
            return initiator::fail(ErrorKind::invalid_argument, fmt::format("fork: {}", std::strerror(errno)));
        if (child > 0) {
            ::close(fds[1]);
            char ready = 0;
            ssize_t got = 0;
            do got = ::read(fds[0], &ready, 1);
            while (got < 0 && errno == EINTR);
            if (got == 1) std::_Exit(0);
            int status = 0;
            while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
            }
            std::_Exit(WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1);
        }
        ::close(fds[0]);
        ::setsid();
        // The child's reactor must not share the parent's epoll instance (Asio: notify_fork).
        asio::query(executor, asio::execution::context).notify_fork(asio::execution_context::fork_child);
        return Starter(fds[1]);
    }
    static Starter foreground() { return Starter(-1); }

    // The mount is up: the parent exits 0; our standard streams leave the terminal, logs go to
    // `log_file`, else to syslog.
    void ready(const std::string& log_file) {
        if (fd_ < 0) return;
        const char ready = 1;
        (void)!::write(fd_, &ready, 1);
        ::close(fd_);
        fd_ = -1;
        std::shared_ptr<spdlog::logger> logger;
        try {
            if (!log_file.empty()) logger = spdlog::basic_logger_mt("iscsikit-mount", log_file);
        } catch (const spdlog::spdlog_ex& e) {
            spdlog::warn("{}; logging to syslog", e.what());
        }
        if (!logger) logger = spdlog::syslog_logger_mt("iscsikit-mount", "iscsikit", LOG_PID, LOG_DAEMON);
        logger->set_level(spdlog::default_logger()->level());
        logger->flush_on(spdlog::level::info);
        spdlog::set_default_logger(logger);
        const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, STDIN_FILENO);
            ::dup2(null, STDOUT_FILENO);
            ::dup2(null, STDERR_FILENO);
            ::close(null);
        }
        if (::chdir("/") != 0) spdlog::warn("chdir /: {}", std::strerror(errno));
    }

private:
    explicit Starter(int fd) : fd_(fd) {}
    int fd_;
};

// The LUNs to show: the URL's one, or every LUN REPORT LUNS lists.
asio::awaitable<Result<std::vector<std::unique_ptr<mount::LunFile>>>> open_luns(Session& session, const Url& url) {
    std::vector<std::uint64_t> numbers;
    if (url.lun) {
        auto present = co_await require_lun(session, *url.lun);
        if (!present) co_return tl::unexpected(present.error());
        numbers.push_back(*url.lun);
    } else {
        auto listed = co_await initiator::report_luns(session);
        if (!listed) co_return tl::unexpected(listed.error());
        numbers = std::move(*listed);
        std::sort(numbers.begin(), numbers.end());
        if (numbers.empty())
            co_return initiator::fail(ErrorKind::no_such_lun, fmt::format("{} reports no LUNs", url.target));
    }
    std::vector<std::unique_ptr<mount::LunFile>> files;
    for (std::uint64_t lun : numbers) {
        auto file = co_await mount::LunFile::open(session, lun);
        if (!file) co_return initiator::fail(ErrorKind::scsi_error, file.error().message);
        files.push_back(std::move(*file));
    }
    co_return files;
}

// SIGTERM, SIGINT, SIGHUP: unmount, as `iscsikit umount` would; a busy mount stays and serves.
// The unmount runs on a thread of its own: the kernel may ask this file system something while
// it unmounts it, and this thread answers.
asio::awaitable<void> unmount_on_signal(asio::signal_set& signals, std::string mountpoint) {
    auto executor = co_await asio::this_coro::executor;
    for (;;) {
        std::error_code ec;
        const int signal = co_await signals.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        spdlog::info("{}: signal {}: unmounting", mountpoint, signal);
        std::thread([mountpoint, executor] {
            auto done = mount::unmount(mountpoint);
            if (!done)
                asio::post(executor, [message = done.error().message] {
                    spdlog::warn("{}; still mounted and serving", message);
                });
        }).detach();
    }
}

asio::awaitable<Result<void>> run_mount(asio::any_io_executor executor, const CommonOptions& common,
                                        const MountArgs& args) {
    auto url = parse_target_url(args.url);
    if (!url) co_return tl::unexpected(url.error());
    auto mountpoint = resolve_mountpoint(args.mountpoint);
    if (!mountpoint) co_return tl::unexpected(mountpoint.error());
    if (::access("/dev/fuse", R_OK | W_OK) != 0)
        co_return initiator::fail(ErrorKind::invalid_argument,
                                  fmt::format("/dev/fuse: {} (FUSE is needed to mount)", std::strerror(errno)));

    auto starter = args.foreground ? Starter::foreground() : Starter::daemonize(executor);
    if (!starter) co_return tl::unexpected(starter.error());

    auto session = co_await connect(executor, *url, common);
    if (!session) co_return tl::unexpected(session.error());
    auto luns = co_await open_luns(**session, *url);
    if (!luns) {
        co_await (*session)->logout();
        co_return tl::unexpected(luns.error());
    }

    mount::MountOptions options;
    options.mountpoint = *mountpoint;
    options.source = url->to_string();
    options.read_only = args.read_only;
    options.allow_other = args.allow_other;
    options.uid = ::getuid();
    options.gid = ::getgid();
    mount::FuseFs fs(executor, std::move(*luns), options);
    if (auto mounted = fs.mount(); !mounted) {
        co_await (*session)->logout();
        co_return initiator::fail(ErrorKind::invalid_argument, mounted.error().message);
    }
    std::string pid_file;
    if (auto entry = mount::find_mount(*mountpoint); entry && entry->fstype == mount::kFsType) {
        pid_file = mount::pid_file_path(entry->major, entry->minor);
        if (auto written = mount::write_pid_file(pid_file, ::getpid()); !written) {
            spdlog::warn("{}; iscsikit umount will not wait for this mount to log out", written.error().message);
            pid_file.clear();
        }
    }
    spdlog::info("{}: {} LUN{} of {} mounted", *mountpoint, fs.lun_count(), fs.lun_count() == 1 ? "" : "s",
                 url->to_string());
    starter->ready(args.log_file);

    asio::signal_set signals(executor, SIGTERM, SIGINT, SIGHUP);
    asio::co_spawn(executor, unmount_on_signal(signals, *mountpoint), asio::detached);
    co_await fs.serve();
    signals.cancel();

    // Unmounted: what the LUNs hold goes to stable storage before the session ends.
    for (std::size_t i = 0; i < fs.lun_count(); ++i) {
        auto& file = fs.lun_file(i);
        if (args.read_only || file.geometry().write_protected) continue;
        auto flushed = co_await file.flush();
        if (!flushed)
            spdlog::error("{}: SYNCHRONIZE CACHE at unmount failed: {}", file.name(), flushed.error().message);
    }
    co_await (*session)->logout();
    if (!pid_file.empty()) ::unlink(pid_file.c_str());
    spdlog::info("{}: logged out", *mountpoint);
    co_return Result<void>{};
}

asio::awaitable<Result<void>> run_umount(const UmountArgs& args) {
    auto mountpoint = resolve_mountpoint(args.mountpoint);
    if (!mountpoint) co_return tl::unexpected(mountpoint.error());
    auto entry = mount::find_mount(*mountpoint);
    if (!entry || entry->fstype != mount::kFsType)
        co_return initiator::fail(ErrorKind::invalid_argument,
                                  fmt::format("{} is not an iscsikit mount", args.mountpoint));
    const auto pid = mount::read_pid_file(mount::pid_file_path(entry->major, entry->minor));
    auto done = mount::unmount(*mountpoint);
    if (!done) co_return initiator::fail(ErrorKind::invalid_argument, done.error().message);
    const auto limit = std::chrono::milliseconds(std::llround(args.timeout * 1000));
    if (pid && !mount::wait_for_exit(*pid, limit))
        co_return initiator::fail(ErrorKind::timeout,
                                  fmt::format("{} is unmounted, but its process ({}) has not logged out after {} s",
                                              args.mountpoint, *pid, args.timeout));
    co_return Result<void>{};
}

}  // namespace

Subcommand add_mount(CLI::App& parent, CommonOptions& common) {
    auto args = std::make_shared<MountArgs>();
    auto* sub = parent.add_subcommand("mount", "show a target's LUNs as files under a directory (FUSE)");
    sub->add_option("url", args->url, "iscsi://HOST[:PORT]/TARGET-IQN[/LUN] (a LUN: only that one)")->required();
    sub->add_option("mountpoint", args->mountpoint, "an existing directory; LUN N appears as MOUNTPOINT/lunN")
        ->required();
    sub->add_flag("--ro", args->read_only, "read-only: no file can be opened for writing");
    sub->add_flag("-f,--foreground", args->foreground, "stay in the foreground (and log to stderr)");
    sub->add_option("--log-file", args->log_file, "once in the background, log to this file (default: syslog)");
    sub->add_flag("--allow-other", args->allow_other,
                  "let other users reach the files (permissions still apply; needs user_allow_other in "
                  "/etc/fuse.conf unless root)");
    add_common_options(*sub, common, false);
    return {sub,
            [args, &common](asio::any_io_executor executor) { return run_mount(std::move(executor), common, *args); }};
}

Subcommand add_umount(CLI::App& parent, CommonOptions& common) {
    (void)common;
    auto args = std::make_shared<UmountArgs>();
    auto* sub = parent.add_subcommand("umount", "unmount what iscsikit mount mounted, once nothing uses it");
    sub->add_option("mountpoint", args->mountpoint, "the directory given to iscsikit mount")->required();
    sub->add_option("--timeout", args->timeout, "seconds to wait for the mount to log out")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    return {sub, [args](asio::any_io_executor) { return run_umount(*args); }};
}

}  // namespace iscsikit::cli
