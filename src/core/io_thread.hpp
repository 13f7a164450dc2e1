// An IoEngine with a thread of its own: what is posted to it, and the completions of the I/O
// submitted through it, run on that thread. For background work that must not take a reactor's
// time from the commands it serves: the block cache's read-ahead admits a window's pages and
// reads them here, so a session's reactor only answers commands (on the 2-vCPU machines of
// docs/benchmarks.md, read-ahead done on the session's reactor cost a sequential QD1 reader a
// quarter of its bandwidth).
//
// The destructor waits for everything posted and every I/O in flight to finish, then stops the
// thread: nothing it ran can touch memory its owner frees afterwards.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/io_engine.hpp"

namespace iscsikit {

class IoThread final : public IoEngine {
public:
    explicit IoThread(std::unique_ptr<IoEngine> engine);
    ~IoThread() override;
    IoThread(const IoThread&) = delete;
    IoThread& operator=(const IoThread&) = delete;

    void read(int fd, std::uint64_t offset, ByteSpan dst, IoCallback done) override;
    void readv(int fd, std::uint64_t offset, std::span<iovec> pieces, IoCallback done) override;
    void write(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) override;
    void write_durable(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) override;
    void fsync(int fd, bool data_only, IoCallback done) override;
    void fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length, IoCallback done) override;
    // Callable from any thread, including this one (runs after the work in progress).
    void post(Callback<void()> fn) override;

    // The thread drives the engine itself: nothing for a reactor to watch.
    int event_fd() const override { return -1; }
    unsigned reap() override { return 0; }
    void submit() override {}

private:
    IoCallback counted(IoCallback done);
    void wake();
    void run();

    std::unique_ptr<IoEngine> engine_;
    int wake_fd_ = -1;
    std::mutex mutex_;
    std::vector<Callback<void()>> posted_;  // guarded by mutex_
    bool stopping_ = false;                 // guarded by mutex_
    std::atomic<std::uint64_t> in_flight_{0};
    std::thread thread_;
};

}  // namespace iscsikit
