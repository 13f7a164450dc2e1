// Where a mount of ours is and how to end it: the entry in /proc/self/mountinfo, the pid file
// that names the process serving it, and an unmount that refuses (busy) instead of detaching a
// file system something still uses.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace iscsikit::mount {

inline constexpr const char* kFsType = "fuse.iscsikit";  // FUSE's type plus our subtype

struct MountEntry {
    std::string mountpoint;  // as the kernel shows it, unescaped
    std::string fstype;
    std::string source;
    unsigned major = 0;
    unsigned minor = 0;
};

// The last entry (the one on top) of a mountinfo text (proc(5)) mounted at `mountpoint`, which
// must be an absolute path without symbolic links (realpath).
std::optional<MountEntry> find_mount(std::string_view mountinfo, std::string_view mountpoint);
// find_mount over this process's /proc/self/mountinfo.
std::optional<MountEntry> find_mount(std::string_view mountpoint);

// The pid file of the process serving the mount with this device number: under /run/iscsikit
// for root, else under $XDG_RUNTIME_DIR (or /tmp) in iscsikit-<uid>.
std::string pid_file_path(unsigned major, unsigned minor);
Result<void> write_pid_file(const std::string& path, pid_t pid);
std::optional<pid_t> read_pid_file(const std::string& path);

// Unmounts `mountpoint` and refuses, with EBUSY in the error's code, when something still uses
// it: umount2(2) for root, `fusermount3 -u` for others. Never a lazy (detaching) unmount, which
// would fail the I/O of a loop device or an open file still on it.
Result<void> unmount(const std::string& mountpoint);

// Waits until process `pid` has ended, at most `limit`. True when it has (or never existed).
bool wait_for_exit(pid_t pid, std::chrono::milliseconds limit);

}  // namespace iscsikit::mount
