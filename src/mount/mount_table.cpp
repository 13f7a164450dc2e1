#include "mount/mount_table.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

extern char** environ;

namespace iscsikit::mount {

namespace {

// proc(5) escapes space, tab, newline and backslash in paths as \ooo (octal).
std::string unescape(std::string_view field) {
    std::string out;
    for (std::size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            const std::string_view digits = field.substr(i + 1, 3);
            int value = 0;
            const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, 8);
            if (ec == std::errc() && end == digits.data() + digits.size()) {
                out += static_cast<char>(value);
                i += 3;
                continue;
            }
        }
        out += field[i];
    }
    return out;
}

std::vector<std::string_view> split(std::string_view line) {
    std::vector<std::string_view> fields;
    std::size_t at = 0;
    while (at < line.size()) {
        const std::size_t end = std::min(line.find(' ', at), line.size());
        if (end > at) fields.push_back(line.substr(at, end - at));
        at = end + 1;
    }
    return fields;
}

std::string runtime_dir() {
    if (::geteuid() == 0) return "/run/iscsikit";
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    const std::string base = xdg && *xdg ? xdg : "/tmp";
    return fmt::format("{}/iscsikit-{}", base, ::geteuid());
}

}  // namespace

std::optional<MountEntry> find_mount(std::string_view mountinfo, std::string_view mountpoint) {
    std::optional<MountEntry> found;
    std::istringstream lines{std::string(mountinfo)};
    std::string line;
    while (std::getline(lines, line)) {
        // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
        const auto fields = split(line);
        if (fields.size() < 7) continue;
        if (unescape(fields[4]) != mountpoint) continue;
        std::size_t dash = 6;
        while (dash < fields.size() && fields[dash] != "-") ++dash;
        if (dash + 2 >= fields.size()) continue;
        MountEntry entry;
        entry.mountpoint = unescape(fields[4]);
        entry.fstype = std::string(fields[dash + 1]);
        entry.source = unescape(fields[dash + 2]);
        const std::string_view dev = fields[2];
        const std::size_t colon = dev.find(':');
        if (colon == std::string_view::npos) continue;
        std::from_chars(dev.data(), dev.data() + colon, entry.major);
        std::from_chars(dev.data() + colon + 1, dev.data() + dev.size(), entry.minor);
        found = std::move(entry);  // the last one is on top
    }
    return found;
}

std::optional<MountEntry> find_mount(std::string_view mountpoint) {
    std::ifstream in("/proc/self/mountinfo");
    std::stringstream text;
    text << in.rdbuf();
    return find_mount(text.str(), mountpoint);
}

std::string pid_file_path(unsigned major, unsigned minor) {
    return fmt::format("{}/mount-{}-{}.pid", runtime_dir(), major, minor);
}

Result<void> write_pid_file(const std::string& path, pid_t pid) {
    const std::string dir = path.substr(0, path.rfind('/'));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return fail(fmt::format("{}: cannot create: {}", dir, std::strerror(errno)));
    std::ofstream out(path, std::ios::trunc);
    out << pid << "\n";
    out.close();
    if (!out) return fail(fmt::format("{}: cannot write", path));
    return {};
}

std::optional<pid_t> read_pid_file(const std::string& path) {
    std::ifstream in(path);
    long pid = 0;
    if (!(in >> pid) || pid <= 0) return std::nullopt;
    return static_cast<pid_t>(pid);
}

Result<void> unmount(const std::string& mountpoint) {
    if (::geteuid() == 0) {
        if (::umount2(mountpoint.c_str(), UMOUNT_NOFOLLOW) == 0) return {};
        const int err = errno;
        if (err == EBUSY)
            return fail(std::error_code(err, std::generic_category()),
                        fmt::format("{} is busy: a process, a loop device or a mount still uses it", mountpoint));
        return fail(std::error_code(err, std::generic_category()),
                    fmt::format("{}: cannot unmount: {}", mountpoint, std::strerror(err)));
    }
    // fusermount3 is set-user-ID root and lets the user who mounted it unmount it.
    const char* argv[] = {"fusermount3", "-u", "-q", "--", mountpoint.c_str(), nullptr};
    pid_t child = 0;
    const int spawned =
        ::posix_spawnp(&child, "fusermount3", nullptr, nullptr, const_cast<char* const*>(argv), environ);
    if (spawned != 0) return fail(fmt::format("cannot run fusermount3: {}", std::strerror(spawned)));
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    return fail(std::error_code(EBUSY, std::generic_category()),
                fmt::format("fusermount3 -u {} failed (is it busy, or not yours?)", mountpoint));
}

bool wait_for_exit(pid_t pid, std::chrono::milliseconds limit) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return errno == ESRCH;  // no such process: it has ended
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(limit.count()));
    ::close(fd);
    return ready == 1;
}

}  // namespace iscsikit::mount
