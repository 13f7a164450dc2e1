#include "core/io_thread.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace iscsikit {

IoThread::IoThread(std::unique_ptr<IoEngine> engine) : engine_(std::move(engine)) {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd for an I/O thread");
    thread_ = std::thread([this] { run(); });
}

IoThread::~IoThread() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake();
    thread_.join();
    ::close(wake_fd_);
}

IoCallback IoThread::counted(IoCallback done) {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    return [this, done = std::move(done)](std::error_code ec) {
        done(ec);
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
    };
}

void IoThread::read(int fd, std::uint64_t offset, ByteSpan dst, IoCallback done) {
    engine_->read(fd, offset, dst, counted(std::move(done)));
}

void IoThread::readv(int fd, std::uint64_t offset, std::span<iovec> pieces, IoCallback done) {
    engine_->readv(fd, offset, pieces, counted(std::move(done)));
}

void IoThread::write(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) {
    engine_->write(fd, offset, src, counted(std::move(done)));
}

void IoThread::write_durable(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) {
    engine_->write_durable(fd, offset, src, counted(std::move(done)));
}

void IoThread::fsync(int fd, bool data_only, IoCallback done) {
    engine_->fsync(fd, data_only, counted(std::move(done)));
}

void IoThread::fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length, IoCallback done) {
    engine_->fallocate(fd, mode, offset, length, counted(std::move(done)));
}

void IoThread::post(Callback<void()> fn) {
    bool first = false;
    {
        std::lock_guard lock(mutex_);
        first = posted_.empty();
        posted_.push_back(std::move(fn));
    }
    if (first) wake();  // a later one finds the thread already woken for the first
}

void IoThread::wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);  // EAGAIN: the counter is set anyway
}

void IoThread::run() {
    std::vector<Callback<void()>> batch;
    for (;;) {
        bool stopping = false;
        {
            std::lock_guard lock(mutex_);
            batch.swap(posted_);
            stopping = stopping_;
        }
        for (auto& fn : batch) fn();
        batch.clear();
        engine_->reap();    // completions, whose callbacks may queue more I/O or post
        engine_->submit();  // everything queued this turn, in one go
        {
            std::lock_guard lock(mutex_);
            if (!posted_.empty()) continue;
        }
        if (stopping && in_flight_.load(std::memory_order_relaxed) == 0) return;
        pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {engine_->event_fd(), POLLIN, 0}};
        const nfds_t n = fds[1].fd >= 0 ? 2 : 1;
        // While stopping, I/O in flight is waited for; a synchronous engine has none.
        if (::poll(fds, n, -1) < 0 && errno != EINTR) return;
        std::uint64_t value = 0;
        [[maybe_unused]] auto r = ::read(wake_fd_, &value, sizeof value);
    }
}

}  // namespace iscsikit
