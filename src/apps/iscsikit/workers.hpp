// N coroutines at once on one executor, awaited together: the queue depth of cp and bench.
#pragma once

#include <cstddef>
#include <exception>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

namespace iscsikit::cli {

// Runs worker(0) .. worker(count - 1) (each returning asio::awaitable<void>) concurrently and
// returns when the last has finished. All share the executor's one thread, so they may share
// plain state. An exception escaping a worker is a bug: it is rethrown out of the io_context.
template <class Worker>
asio::awaitable<void> run_workers(asio::any_io_executor executor, std::size_t count, Worker worker) {
    asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
    std::size_t running = count;
    for (std::size_t i = 0; i < count; ++i) {
        asio::co_spawn(executor, worker(i), [&](const std::exception_ptr& e) {
            if (e) std::rethrow_exception(e);
            if (--running == 0) all_done.cancel();
        });
    }
    // Nothing runs between this test and the wait (one thread), so the cancel cannot be missed.
    if (running > 0) co_await all_done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

}  // namespace iscsikit::cli
