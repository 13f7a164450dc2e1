#include "core/reactor.hpp"

#include <unistd.h>

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

namespace iscsikit {

// Queues I/O on the real engine and submits once per reactor turn: the first request of a turn
// posts a submit, so everything queued by the handlers that run before it goes in one syscall.
class Reactor::BatchedIo final : public IoEngine {
public:
    BatchedIo(asio::io_context& context, IoEngine& engine) : context_(context), engine_(engine) {}

    void read(int fd, std::uint64_t offset, ByteSpan dst, IoCallback done) override {
        engine_.read(fd, offset, dst, std::move(done));
        schedule_submit();
    }
    void readv(int fd, std::uint64_t offset, std::span<iovec> pieces, IoCallback done) override {
        engine_.readv(fd, offset, pieces, std::move(done));
        schedule_submit();
    }
    void write(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) override {
        engine_.write(fd, offset, src, std::move(done));
        schedule_submit();
    }
    void write_durable(int fd, std::uint64_t offset, ConstByteSpan src, IoCallback done) override {
        engine_.write_durable(fd, offset, src, std::move(done));
        schedule_submit();
    }
    void fsync(int fd, bool data_only, IoCallback done) override {
        engine_.fsync(fd, data_only, std::move(done));
        schedule_submit();
    }
    void fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t length, IoCallback done) override {
        engine_.fallocate(fd, mode, offset, length, std::move(done));
        schedule_submit();
    }
    void post(Callback<void()> fn) override {
        asio::post(context_, [fn = std::move(fn)]() mutable { fn(); });
    }
    void after(std::chrono::nanoseconds delay, IoCallback done) override {
        engine_.after(delay, std::move(done));
        schedule_submit();
    }
    int event_fd() const override { return engine_.event_fd(); }
    unsigned reap() override { return engine_.reap(); }
    void submit() override { engine_.submit(); }

private:
    void schedule_submit() {
        if (submit_pending_) return;
        submit_pending_ = true;
        asio::post(context_, [this] {
            submit_pending_ = false;
            engine_.submit();
        });
    }

    asio::io_context& context_;
    IoEngine& engine_;
    bool submit_pending_ = false;
};

Reactor::Reactor(unsigned index)
    : index_(index),
      work_(asio::make_work_guard(context_)),
      engine_(make_io_engine()),
      batched_io_(std::make_unique<BatchedIo>(context_, *engine_)) {
    if (int fd = engine_->event_fd(); fd >= 0) {
        completions_ = std::make_unique<asio::posix::stream_descriptor>(context_, ::dup(fd));
        watch_completions();
    }
}

IoEngine& Reactor::io() { return *batched_io_; }

Reactor::~Reactor() {
    stop();
    // Handlers still queued may own connections that reference the engine: destroy them first.
    completions_.reset();
}

void Reactor::watch_completions() {
    completions_->async_wait(asio::posix::stream_descriptor::wait_read, [this](std::error_code ec) {
        if (ec) return;
        engine_->reap();  // clears the eventfd, runs callbacks, submits what they queued
        watch_completions();
    });
}

void Reactor::start() {
    thread_ = std::thread([this] {
        try {
            context_.run();
        } catch (const std::exception& e) {
            spdlog::critical("reactor {}: unhandled exception: {}", index_, e.what());
            std::abort();
        }
    });
}

void Reactor::stop() {
    work_.reset();
    context_.stop();
    join();
}

void Reactor::join() {
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

ReactorPool::ReactorPool(unsigned count) {
    if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < count; ++i) reactors_.push_back(std::make_unique<Reactor>(i));
}

ReactorPool::~ReactorPool() { stop(); }

Reactor& ReactorPool::next() { return *reactors_[next_.fetch_add(1, std::memory_order_relaxed) % reactors_.size()]; }

void ReactorPool::start() {
    for (auto& r : reactors_) r->start();
}

void ReactorPool::stop() {
    for (auto& r : reactors_) r->stop();
}

}  // namespace iscsikit
