// core::Reactor: what its IoEngine promises beyond the I/O itself.
#include "core/reactor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <asio/post.hpp>

#include "skip_or_fail.hpp"

namespace iscsikit {
namespace {

std::thread::id reactor_thread(Reactor& reactor) {
    std::promise<std::thread::id> id;
    asio::post(reactor.context(), [&] { id.set_value(std::this_thread::get_id()); });
    return id.get_future().get();
}

TEST(Reactor, PostRunsTheCallbackOnTheReactorsThreadWhoeverCallsIt) {
    Reactor reactor(0);
    reactor.start();
    const auto home = reactor_thread(reactor);
    ASSERT_NE(home, std::this_thread::get_id());

    constexpr int kPosters = 4, kEach = 1000;
    std::atomic<int> ran{0}, elsewhere{0};
    std::vector<std::thread> posters;
    for (int p = 0; p < kPosters; ++p)
        posters.emplace_back([&] {
            for (int i = 0; i < kEach; ++i)
                reactor.io().post([&, home] {
                    if (std::this_thread::get_id() != home) ++elsewhere;
                    ++ran;
                });
        });
    for (auto& t : posters) t.join();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ran.load() < kPosters * kEach && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(ran.load(), kPosters * kEach);
    EXPECT_EQ(elsewhere.load(), 0);
    reactor.stop();
}

TEST(Reactor, AfterRunsTheCallbackOnTheReactorsThreadOnceTheDelayHasPassed) {
    Reactor reactor(0);
    reactor.start();
    const auto home = reactor_thread(reactor);
    if (reactor.io().event_fd() < 0) ISCSIKIT_SKIP_OR_FAIL("no io_uring here: after() does not pause");
    std::promise<std::pair<std::thread::id, std::error_code>> ran;
    const auto started = std::chrono::steady_clock::now();
    asio::post(reactor.context(), [&] {
        reactor.io().after(std::chrono::milliseconds(30), [&](std::error_code ec) {
            ran.set_value({std::this_thread::get_id(), ec});
        });
    });
    auto result = ran.get_future();
    ASSERT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    const auto [thread, ec] = result.get();
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(30));
    EXPECT_EQ(thread, home);
    EXPECT_EQ(ec, std::error_code{});
    reactor.stop();
}

TEST(Reactor, ASynchronousEngineRunsAPostAtOnce) {
    auto engine = make_sync_io_engine();
    bool ran = false;
    engine->post([&] { ran = true; });
    EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace iscsikit
