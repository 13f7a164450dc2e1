// The io_uring engine and its synchronous fallback (io_engine.hpp). Not thread-safe by design: one
// engine per reactor thread, and every call, callback included, happens on that thread.
#include "core/io_engine.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

namespace iscsikit {
namespace {

// What a callback gets for a result in io_uring's convention (a count >= 0, or -errno): the engines
// keep that int inside and convert once, where they run the callback.
std::error_code result_code(int res) {
    return res < 0 ? std::error_code(-res, std::generic_category()) : std::error_code{};
}

// Drops the first `n` bytes of `pieces` (a short transfer's), in place; returns what remains.
std::span<iovec> advance(std::span<iovec> pieces, std::size_t n) {
    while (!pieces.empty() && n >= pieces.front().iov_len) {
        n -= pieces.front().iov_len;
        pieces = pieces.subspan(1);
    }
    if (n > 0) {
        pieces.front().iov_base = static_cast<std::byte*>(pieces.front().iov_base) + n;
        pieces.front().iov_len -= n;
    }
    return pieces;
}

// preadv until all of `pieces` is read, on the calling thread; the length, or -errno.
int preadv_all(int fd, std::uint64_t offset, std::span<iovec> pieces) {
    const std::size_t length = total_length(pieces);
    if (length > static_cast<std::size_t>(INT_MAX)) return -EINVAL;
    std::size_t done = 0;
    while (done < length) {
        const int count = static_cast<int>(std::min<std::size_t>(pieces.size(), IOV_MAX));
        ssize_t n = ::preadv(fd, pieces.data(), count, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (n == 0) return -EIO;
        done += static_cast<std::size_t>(n);
        pieces = advance(pieces, static_cast<std::size_t>(n));
    }
    return static_cast<int>(length);
}

// One operation in flight. Pooled and linked intrusively, so queuing an I/O allocates nothing
// (the caller's callback keeps its captures inline).
struct Request {
    enum class Op : std::uint8_t { read, readv, write, fsync, fallocate, timeout };
    Op op = Op::read;
    bool data_only = false;  // fsync: fdatasync; write: RWF_DSYNC
    int fd = -1;
    int mode = 0;    // fallocate only
    int result = 0;  // -errno, for requests completed without the kernel (see fail_later)
    std::uint64_t offset = 0;
    std::byte* buffer = nullptr;
    iovec* pieces = nullptr;  // readv: the caller's, advanced past what a short transfer read
    unsigned piece_count = 0;
    std::size_t length = 0;
    std::size_t done = 0;         // bytes already transferred; short transfers continue from here
    __kernel_timespec timeout{};  // timeout only: the kernel reads it when the SQE is submitted
    IoCallback callback;
    Request* next = nullptr;  // free list, backlog or ready list
};

// A FIFO of requests linked through Request::next.
class RequestList {
public:
    bool empty() const { return head_ == nullptr; }
    void push(Request* r) {
        r->next = nullptr;
        if (tail_)
            tail_->next = r;
        else
            head_ = r;
        tail_ = r;
    }
    Request* pop() {
        Request* r = head_;
        if (r) {
            head_ = r->next;
            if (!head_) tail_ = nullptr;
            r->next = nullptr;
        }
        return r;
    }

private:
    Request* head_ = nullptr;
    Request* tail_ = nullptr;
};

class RequestPool {
public:
    Request* acquire() {
        if (!free_) grow();
        Request* r = free_;
        free_ = r->next;
        r->next = nullptr;
        r->done = 0;
        r->result = 0;
        return r;
    }
    void release(Request* r) {
        r->callback = nullptr;
        r->next = free_;
        free_ = r;
    }

private:
    static constexpr std::size_t kChunk = 64;
    void grow() {
        chunks_.push_back(std::make_unique<Request[]>(kChunk));
        for (std::size_t i = 0; i < kChunk; ++i) release(&chunks_.back()[i]);
    }
    std::vector<std::unique_ptr<Request[]>> chunks_;
    Request* free_ = nullptr;
};

class UringEngine final : public IoEngine {
public:
    // Takes ownership of an initialised ring and of the eventfd registered with it.
    UringEngine(const io_uring& ring, int event_fd)
        : ring_(ring), event_fd_(event_fd), max_in_flight_(ring.cq.ring_entries) {}

    ~UringEngine() override {
        // The kernel may still be writing into callers' buffers: cancel what can be cancelled and
        // wait for every operation to end before the ring goes away. Callbacks are dropped, not run.
        ready_ = RequestList{};
        backlog_ = RequestList{};
        if (in_flight_ > 0) {
            if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) {
                io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
                io_uring_sqe_set_data(sqe, nullptr);
            }
            io_uring_submit(&ring_);
        }
        while (in_flight_ > 0) {
            io_uring_cqe* cqe = nullptr;
            __kernel_timespec timeout{.tv_sec = 5, .tv_nsec = 0};
            int rc = io_uring_wait_cqe_timeout(&ring_, &cqe, &timeout);
            if (rc == -EINTR) continue;
            if (rc < 0) {
                spdlog::error("io_uring: {} operations still in flight at shutdown ({})", in_flight_,
                              std::strerror(-rc));
                break;
            }
            if (io_uring_cqe_get_data(cqe) != nullptr) --in_flight_;
            io_uring_cqe_seen(&ring_, cqe);
        }
        io_uring_queue_exit(&ring_);
        ::close(event_fd_);
    }

    void read(int fd, std::uint64_t offset, ByteSpan dst, IoCallback done) override {
        start(Request::Op::read, fd, offset, dst.data(), dst.size(), false, std::move(done));
    }

    void readv(int fd, std::uint64_t offset, std::span<iovec> pieces, IoCallback done) override {
        const std::size_t length = total_length(pieces);
        Request* r = pool_.acquire();
        r->op = Request::Op::readv;
        r->fd = fd;
        r->offset = offset;
        r->buffer = nullptr;
        r->pieces = pieces.data();
        r->piece_count = static_cast<unsigned>(pieces.size());
        r->length = length;
        r->callback = std::move(done);
        if (length > static_cast<std::size_t>(INT_MAX) || pieces.size() > IOV_MAX) return fail_later(r, -EINVAL);
        enqueue(r);
    }

    void write(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) override {
        // The buffer is only read by the kernel; Request keeps one pointer type for both directions.
        start(Request::Op::write, fd, offset, const_cast<std::byte*>(src.data()), src.size(), false, std::move(done));
    }

    void write_durable(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) override {
        start(Request::Op::write, fd, offset, const_cast<std::byte*>(src.data()), src.size(), true, std::move(done));
    }

    void fsync(int fd, bool data_only, IoCallback done) override {
        start(Request::Op::fsync, fd, 0, nullptr, 0, data_only, std::move(done));
    }

    void fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length, IoCallback done) override {
        // Not a transfer: the length may exceed the INT_MAX that start() allows a read or write.
        Request* r = pool_.acquire();
        r->op = Request::Op::fallocate;
        r->fd = fd;
        r->mode = mode;
        r->offset = offset;
        r->buffer = nullptr;
        r->length = static_cast<std::size_t>(length);
        r->callback = std::move(done);
        enqueue(r);
    }

    void after(std::chrono::nanoseconds delay, IoCallback done) override {
        Request* r = pool_.acquire();
        r->op = Request::Op::timeout;
        const auto ns = std::max<std::int64_t>(delay.count(), 0);
        r->timeout.tv_sec = ns / 1'000'000'000;
        r->timeout.tv_nsec = ns % 1'000'000'000;
        r->buffer = nullptr;
        r->length = 0;
        r->callback = std::move(done);
        enqueue(r);
    }

    int event_fd() const override { return event_fd_; }

    unsigned reap() override {
        // Clear the eventfd first: a completion that lands after this read signals it again.
        std::uint64_t counter = 0;
        [[maybe_unused]] auto ignored = ::read(event_fd_, &counter, sizeof counter);

        unsigned ran = 0;
        while (Request* r = ready_.pop()) {
            finish(r, r->result);
            ++ran;
        }
        io_uring_cqe* cqe = nullptr;
        while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
            auto* r = static_cast<Request*>(io_uring_cqe_get_data(cqe));
            int res = cqe->res;
            io_uring_cqe_seen(&ring_, cqe);
            if (!r) continue;  // the cancel request of the destructor
            --in_flight_;
            if (complete(r, res)) ++ran;
        }
        // Resubmitted remainders, and whatever the callbacks queued, go out in one batch.
        submit();
        return ran;
    }

    void submit() override {
        while (!backlog_.empty() && in_flight_ < max_in_flight_) {
            io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
            if (!sqe) {
                if (flush() <= 0) break;
                continue;
            }
            prepare(sqe, backlog_.pop());
        }
        flush();
    }

private:
    void start(Request::Op op, int fd, std::uint64_t offset, std::byte* buffer, std::size_t length, bool data_only,
               IoCallback done) {
        Request* r = pool_.acquire();
        r->op = op;
        r->fd = fd;
        r->offset = offset;
        r->buffer = buffer;
        r->length = length;
        r->data_only = data_only;
        r->callback = std::move(done);
        // A CQE's res, the count of one submission, is an int: refuse what it cannot report.
        if (length > static_cast<std::size_t>(INT_MAX)) return fail_later(r, -EINVAL);
        enqueue(r);
    }

    // Gives the request an SQE now if there is one (submitting a full SQ to make room), else
    // keeps it in the backlog that submit() drains. Order among queued requests is kept.
    void enqueue(Request* r) {
        if (backlog_.empty() && in_flight_ < max_in_flight_) {
            io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
            if (!sqe && flush() > 0) sqe = io_uring_get_sqe(&ring_);
            if (sqe) return prepare(sqe, r);
        }
        backlog_.push(r);
    }

    void prepare(io_uring_sqe* sqe, Request* r) {
        const auto remaining = static_cast<unsigned>(r->length - r->done);
        switch (r->op) {
            case Request::Op::read:
                io_uring_prep_read(sqe, r->fd, r->buffer + r->done, remaining, r->offset + r->done);
                break;
            case Request::Op::readv:  // the pieces were advanced past what is done
                io_uring_prep_readv(sqe, r->fd, r->pieces, r->piece_count, r->offset + r->done);
                break;
            case Request::Op::write:
                io_uring_prep_write(sqe, r->fd, r->buffer + r->done, remaining, r->offset + r->done);
                if (r->data_only) sqe->rw_flags = RWF_DSYNC;  // a resubmitted remainder is durable too
                break;
            case Request::Op::fsync: io_uring_prep_fsync(sqe, r->fd, r->data_only ? IORING_FSYNC_DATASYNC : 0); break;
            case Request::Op::fallocate:
                io_uring_prep_fallocate(sqe, r->fd, r->mode, static_cast<off_t>(r->offset),
                                        static_cast<off_t>(r->length));
                break;
            case Request::Op::timeout: io_uring_prep_timeout(sqe, &r->timeout, 0, 0); break;
        }
        io_uring_sqe_set_data(sqe, r);
        ++in_flight_;
    }

    // Submits every prepared SQE; returns how many the kernel took, or -errno.
    int flush() {
        int total = 0;
        while (io_uring_sq_ready(&ring_) > 0) {
            int rc = io_uring_submit(&ring_);
            if (rc == -EINTR) continue;
            if (rc < 0) {
                // -EAGAIN/-EBUSY: the kernel is short of resources or completions must be reaped
                // first; the SQEs stay in the ring and go out on the next submit.
                if (rc != -EAGAIN && rc != -EBUSY) spdlog::error("io_uring_submit: {}", std::strerror(-rc));
                return total > 0 ? total : rc;
            }
            if (rc == 0) break;
            total += rc;
        }
        return total;
    }

    // Handles one CQE; returns true when the request ended and its callback ran.
    bool complete(Request* r, int res) {
        if (r->op == Request::Op::timeout && res == -ETIME) res = 0;  // the time passed: success
        const bool transfer = r->op == Request::Op::read || r->op == Request::Op::readv || r->op == Request::Op::write;
        if (transfer && res >= 0) {
            // A transfer that returns 0 before the full length cannot make progress (backstores
            // never read past their end): report it as an I/O error rather than loop.
            if (res == 0 && r->done < r->length) {
                finish(r, -EIO);
                return true;
            }
            r->done += static_cast<std::size_t>(res);
            if (r->op == Request::Op::readv) {
                const auto rest = advance({r->pieces, r->piece_count}, static_cast<std::size_t>(res));
                r->pieces = rest.data();
                r->piece_count = static_cast<unsigned>(rest.size());
            }
            if (r->done < r->length) {
                enqueue(r);  // short transfer: continue with the remainder
                return false;
            }
        }
        finish(r, res);
        return true;
    }

    // Returns the request to the pool before the callback runs, so the callback may start new I/O.
    // `res` as io_uring reports it; the callback gets success or the errno.
    void finish(Request* r, int res) {
        IoCallback callback = std::move(r->callback);
        pool_.release(r);
        if (callback) callback(result_code(res));
    }

    // Completes a request on the next reap() without involving the kernel; `res` is -errno.
    void fail_later(Request* r, int res) {
        r->result = res;
        ready_.push(r);
        std::uint64_t one = 1;
        [[maybe_unused]] auto ignored = ::write(event_fd_, &one, sizeof one);
    }

    io_uring ring_;
    int event_fd_;
    unsigned max_in_flight_;  // never more than the CQ holds, so completions cannot overflow
    unsigned in_flight_ = 0;
    RequestPool pool_;
    RequestList backlog_;
    RequestList ready_;
};

// pread/pwrite on the calling thread: correct but blocking, for kernels that refuse io_uring.
class SyncEngine final : public IoEngine {
public:
    void read(int fd, std::uint64_t offset, ByteSpan dst, IoCallback done) override {
        done(result_code(transfer(dst.size(), [&](std::size_t at) {
            return ::pread(fd, dst.data() + at, dst.size() - at, static_cast<off_t>(offset + at));
        })));
    }

    void write(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) override {
        done(result_code(transfer(src.size(), [&](std::size_t at) {
            return ::pwrite(fd, src.data() + at, src.size() - at, static_cast<off_t>(offset + at));
        })));
    }

    void write_durable(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) override {
        done(result_code(transfer(src.size(), [&](std::size_t at) {
            iovec iov{const_cast<std::byte*>(src.data() + at), src.size() - at};
            return ::pwritev2(fd, &iov, 1, static_cast<off_t>(offset + at), RWF_DSYNC);
        })));
    }

    void fsync(int fd, bool data_only, IoCallback done) override {
        int rc;
        do rc = data_only ? ::fdatasync(fd) : ::fsync(fd);
        while (rc < 0 && errno == EINTR);
        done(rc < 0 ? std::error_code(errno, std::generic_category()) : std::error_code{});
    }

    int event_fd() const override { return -1; }
    unsigned reap() override { return 0; }
    void submit() override {}

private:
    // Loops over short transfers exactly as the io_uring engine does; the length, or -errno.
    template <class Step>
    static int transfer(std::size_t length, Step step) {
        if (length > static_cast<std::size_t>(INT_MAX)) return -EINVAL;
        std::size_t done = 0;
        while (done < length) {
            ssize_t n = step(done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return -errno;
            if (n == 0) return -EIO;
            done += static_cast<std::size_t>(n);
        }
        return static_cast<int>(length);
    }
};

}  // namespace

std::size_t total_length(std::span<const iovec> pieces) {
    std::size_t n = 0;
    for (const auto& p : pieces) n += p.iov_len;
    return n;
}

void IoEngine::readv(int fd, std::uint64_t offset, std::span<iovec> pieces, IoCallback done) {
    done(result_code(preadv_all(fd, offset, pieces)));
}

void IoEngine::fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length, IoCallback done) {
    int rc;
    do rc = ::fallocate(fd, mode, static_cast<off_t>(offset), static_cast<off_t>(length));
    while (rc < 0 && errno == EINTR);
    done(rc < 0 ? std::error_code(errno, std::generic_category()) : std::error_code{});
}

std::unique_ptr<IoEngine> make_sync_io_engine() { return std::make_unique<SyncEngine>(); }

std::unique_ptr<IoEngine> make_io_engine(unsigned queue_depth) {
    io_uring ring{};
    io_uring_params params{};
    // SUBMIT_ALL (5.18): one bad SQE does not hold back the rest of the batch; older kernels
    // reject the flag, so retry without it.
    params.flags = IORING_SETUP_SUBMIT_ALL;
    int rc = io_uring_queue_init_params(queue_depth, &ring, &params);
    if (rc == -EINVAL) {
        params = io_uring_params{};
        rc = io_uring_queue_init_params(queue_depth, &ring, &params);
    }
    if (rc < 0) {
        spdlog::warn("io_uring unavailable ({}): file I/O falls back to blocking pread/pwrite on the reactor",
                     std::strerror(-rc));
        return make_sync_io_engine();
    }
    int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0 || (rc = io_uring_register_eventfd(&ring, efd)) < 0) {
        int err = efd < 0 ? errno : -rc;
        spdlog::warn("io_uring eventfd registration failed ({}): file I/O falls back to blocking pread/pwrite",
                     std::strerror(err));
        if (efd >= 0) ::close(efd);
        io_uring_queue_exit(&ring);
        return make_sync_io_engine();
    }
    return std::make_unique<UringEngine>(ring, efd);
}

}  // namespace iscsikit
