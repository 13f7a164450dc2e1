// Thread per core (DESIGN.md): N reactors, each an asio::io_context run by one thread with its own
// io_uring engine. A connection lives on one reactor for its whole life.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include "core/io_engine.hpp"

namespace iscsikit {

class Reactor {
public:
    explicit Reactor(unsigned index);
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    unsigned index() const { return index_; }
    asio::io_context& context() { return context_; }
    // The storage engine of this reactor. I/O queued through it is submitted in one batch at the
    // end of the current handler, and its completions run on this reactor's thread.
    IoEngine& io();

    void start();  // runs the context on a new thread
    void stop();   // stops the context and joins the thread
    void join();

private:
    class BatchedIo;
    void watch_completions();

    unsigned index_;
    asio::io_context context_{1};
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::unique_ptr<IoEngine> engine_;
    std::unique_ptr<BatchedIo> batched_io_;
    std::unique_ptr<asio::posix::stream_descriptor> completions_;
    std::thread thread_;
};

class ReactorPool {
public:
    explicit ReactorPool(unsigned count);  // 0: one per CPU
    ~ReactorPool();

    std::size_t size() const { return reactors_.size(); }
    Reactor& at(std::size_t i) { return *reactors_[i]; }
    Reactor& next();  // round robin, for placing new connections
    void start();
    void stop();

private:
    std::vector<std::unique_ptr<Reactor>> reactors_;
    std::atomic<std::size_t> next_{0};
};

}  // namespace iscsikit
