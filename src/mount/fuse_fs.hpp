// The FUSE file system of `iscsikit mount`: a directory with one regular file per LUN
// (MOUNTPOINT/lun<N>), each a LunFile. It runs on the session's own io_context, one thread: the
// /dev/fuse descriptor is waited on like a socket, each request starts a coroutine and the reply
// goes out when its SCSI commands complete, so many requests are in flight at once with no lock
// anywhere (libfuse's low-level API, its custom event loop: fuse_session_receive_buf and
// fuse_session_process_buf).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "core/result.hpp"
#include "mount/lun_file.hpp"

struct fuse_session;
struct fuse_buf;

namespace iscsikit::mount {

struct MountOptions {
    std::string mountpoint;
    std::string source;  // what `mount` and `df` show as the device: the URL without credentials
    bool read_only = false;
    bool allow_other = false;  // other users (root included) may use the files; adds default_permissions
    uid_t uid = 0;             // owner of the files (the mounting user)
    gid_t gid = 0;
};

class FuseFs {
public:
    FuseFs(asio::any_io_executor executor, std::vector<std::unique_ptr<LunFile>> luns, MountOptions options);
    ~FuseFs();  // unmounts (lazily: fuse_session_unmount) if still mounted
    FuseFs(const FuseFs&) = delete;
    FuseFs& operator=(const FuseFs&) = delete;

    // Creates the FUSE session and mounts it. The error names the mount point and the reason.
    Result<void> mount();
    // Serves requests until the file system is unmounted (or the kernel ends the connection),
    // then waits for the requests still in flight to be answered.
    asio::awaitable<void> serve();

    std::size_t lun_count() const { return luns_.size(); }
    LunFile& lun_file(std::size_t index) { return *luns_[index]; }

    struct Handlers;  // the request handlers (fuse_fs.cpp)

private:
    // The receive buffer of the request being processed, now owned by the caller (a write whose
    // data it holds, until the write completes); the next request goes to another buffer.
    void* take_receive_buffer();
    void give_back_buffer(void* buffer);
    void request_started() { ++in_flight_; }
    void request_finished() { --in_flight_; }

    asio::any_io_executor executor_;
    std::vector<std::unique_ptr<LunFile>> luns_;
    MountOptions options_;
    fuse_session* session_ = nullptr;
    bool mounted_ = false;
    std::unique_ptr<fuse_buf> buffer_;  // the receive buffer in use
    bool buffer_taken_ = false;
    std::vector<void*> spare_buffers_;  // receive buffers given back, for the next requests
    std::size_t in_flight_ = 0;
    std::unique_ptr<asio::posix::stream_descriptor> device_;
    std::int64_t mounted_at_ = 0;
};

}  // namespace iscsikit::mount
