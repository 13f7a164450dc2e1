// Asynchronous file I/O through io_uring (liburing), one engine per reactor thread. The reactor
// watches event_fd() and calls reap() when it is readable; completions run on the reactor thread,
// so the data path never blocks on storage (DESIGN.md, "Concurrency and the data path").
#pragma once

#include "core/callback.hpp"

#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <system_error>

#include "core/bytes.hpp"

namespace iscsikit {

// An empty code is success: the engine itself resubmits short transfers, so a read or write that
// succeeds has transferred its full length. A failure is the errno in std::generic_category
// (compare it with std::errc values: std::errc::io_error, std::errc::bad_file_descriptor, ...).
using IoCallback = Callback<void(std::error_code)>;

class IoEngine {
public:
    virtual ~IoEngine() = default;
    virtual void read(int fd, std::uint64_t offset, ByteSpan dst, IoCallback done) = 0;
    // One read of consecutive bytes into scattered buffers (preadv(2)). `pieces` must stay valid
    // until `done` runs: the engine advances them in place to continue a short transfer. The
    // default runs it on the calling thread; the io_uring engine hands it to the kernel.
    virtual void readv(int fd, std::uint64_t offset, std::span<iovec> pieces, IoCallback done);
    virtual void write(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) = 0;
    // A write whose data is on stable storage when `done` runs (pwritev2's RWF_DSYNC: the write
    // and the data sync of its range in one operation, for FUA).
    virtual void write_durable(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) = 0;
    virtual void fsync(int fd, bool data_only, IoCallback done) = 0;
    // fallocate(2) with `mode` (FALLOC_FL_PUNCH_HOLE, ...) over [offset, offset + length); done gets
    // success or the errno. The default runs it on the calling thread (it is a metadata operation);
    // the io_uring engine hands it to the kernel's workers instead.
    virtual void fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length, IoCallback done);
    // Runs `fn` on the thread that runs this engine's completions, after the handler in progress
    // there; callable from any thread. What finishes on one reactor wakes a waiter on another
    // with it (two sessions missing the same cache page wait for one read). The default, for
    // engines with no thread of their own (the synchronous fallback, tests), runs it at once.
    virtual void post(Callback<void()> fn) { fn(); }
    // Runs `done` with success once `delay` has passed, as a completion of this engine: a pause
    // that blocks nothing. The default, for engines with no thread of their own (the synchronous
    // fallback, tests), runs it at once, without the pause.
    virtual void after(std::chrono::nanoseconds delay, IoCallback done) {
        (void)delay;
        done(std::error_code{});
    }

    // An eventfd that becomes readable when completions are waiting, or -1 for engines that
    // complete inline (the synchronous fallback).
    virtual int event_fd() const = 0;
    // Runs the callbacks of every completion that has arrived; returns how many ran.
    virtual unsigned reap() = 0;
    // Submits what has been queued (called once per reactor turn, batching submissions).
    virtual void submit() = 0;
};

// The total length of `pieces`.
std::size_t total_length(std::span<const iovec> pieces);

// The io_uring engine with `queue_depth` entries; when the kernel refuses io_uring, a synchronous
// engine (pread/pwrite on the calling thread) with a warning in the log.
std::unique_ptr<IoEngine> make_io_engine(unsigned queue_depth = 256);
std::unique_ptr<IoEngine> make_sync_io_engine();

}  // namespace iscsikit
