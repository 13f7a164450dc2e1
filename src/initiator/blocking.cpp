#include "initiator/blocking.hpp"

#include <future>
#include <optional>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

namespace iscsikit::initiator {

namespace {

// Runs `make()` (a coroutine) on `context` and blocks the calling thread until it has finished.
// An exception escaping the coroutine (a bug: errors are values) is rethrown here.
template <class Make>
auto run_on(asio::io_context& context, Make make) -> typename decltype(make())::value_type {
    using T = typename decltype(make())::value_type;
    std::promise<T> promise;
    auto future = promise.get_future();
    asio::co_spawn(context, std::move(make), [&promise](std::exception_ptr e, T value) {
        if (e)
            promise.set_exception(e);
        else
            promise.set_value(std::move(value));
    });
    return future.get();
}

}  // namespace

struct BlockingSession::State {
    asio::io_context context{1};
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(context);
    std::thread thread{[this] { context.run(); }};
    std::shared_ptr<Session> session;

    ~State() {
        if (session) {
            // The session lives on the context's thread: it logs out and is destroyed there.
            run_on(context, [this]() -> asio::awaitable<int> {
                co_await session->logout();
                session.reset();
                co_return 0;
            });
        }
        work.reset();
        thread.join();
    }

    template <class Make>
    auto run(Make make) {
        return run_on(context, std::move(make));
    }
};

BlockingSession::BlockingSession(std::unique_ptr<State> state) : state_(std::move(state)) {}

BlockingSession::~BlockingSession() = default;

Result<std::unique_ptr<BlockingSession>> BlockingSession::connect(const Url& url, SessionOptions opts) {
    auto state = std::make_unique<State>();
    auto& context = state->context;
    auto session = state->run([&]() { return Session::connect(context.get_executor(), url, std::move(opts)); });
    if (!session) return tl::unexpected(session.error());
    state->session = std::move(*session);
    return std::make_unique<BlockingSession>(std::move(state));
}

Result<Completion> BlockingSession::execute(Command cmd) {
    return state_->run([&]() { return state_->session->execute(cmd); });
}

Result<scsi::parse::InquiryData> BlockingSession::inquiry(std::uint64_t lun) {
    return state_->run([&]() { return initiator::inquiry(*state_->session, lun); });
}

Result<scsi::parse::Capacity> BlockingSession::read_capacity(std::uint64_t lun) {
    return state_->run([&]() { return initiator::read_capacity(*state_->session, lun); });
}

Result<std::vector<std::uint64_t>> BlockingSession::report_luns() {
    return state_->run([&]() { return initiator::report_luns(*state_->session); });
}

Result<void> BlockingSession::read_blocks(std::uint64_t lun, std::uint64_t lba, std::uint32_t block_size,
                                          std::span<std::byte> buf) {
    return state_->run([&]() { return initiator::read_blocks(*state_->session, lun, lba, block_size, buf); });
}

Result<void> BlockingSession::write_blocks(std::uint64_t lun, std::uint64_t lba, std::uint32_t block_size,
                                           std::span<const std::byte> data) {
    return state_->run([&]() { return initiator::write_blocks(*state_->session, lun, lba, block_size, data); });
}

Result<void> BlockingSession::synchronize_cache(std::uint64_t lun) {
    return state_->run([&]() { return initiator::synchronize_cache(*state_->session, lun); });
}

void BlockingSession::logout() {
    if (!state_->session) return;
    state_->run([this]() -> asio::awaitable<int> {
        co_await state_->session->logout();
        state_->session.reset();
        co_return 0;
    });
}

Result<std::vector<DiscoveredTarget>> discover_blocking(const Url& url, SessionOptions opts) {
    asio::io_context context{1};
    std::optional<Result<std::vector<DiscoveredTarget>>> out;
    std::exception_ptr failure;
    asio::co_spawn(context, discover(context.get_executor(), url, std::move(opts)),
                   [&](std::exception_ptr e, Result<std::vector<DiscoveredTarget>> found) {
                       failure = std::move(e);
                       out = std::move(found);
                   });
    context.run();
    if (failure) std::rethrow_exception(failure);
    return std::move(*out);
}

}  // namespace iscsikit::initiator
