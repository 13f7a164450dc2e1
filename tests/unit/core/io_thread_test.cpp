// IoThread: posted work and I/O completions run on its thread, posts from any thread arrive, and
// destruction waits for the I/O in flight (what its owner frees next is never touched after).
#include "core/io_thread.hpp"

#include <unistd.h>

#include <chrono>
#include <future>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "skip_or_fail.hpp"

namespace iscsikit {
namespace {

TEST(IoThread, PostedWorkAndCompletionsRunOnItsThread) {
    auto engine = make_io_engine(8);
    if (engine->event_fd() < 0) ISCSIKIT_SKIP_OR_FAIL("io_uring not available here");
    IoThread io(std::move(engine));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    ASSERT_EQ(::write(fds[1], "0123456789", 10), 10);
    std::vector<std::byte> back(10);
    std::promise<std::thread::id> posted_on, completed_on;
    io.post([&] {
        posted_on.set_value(std::this_thread::get_id());
        io.read(fds[0], 0, back, [&](std::error_code ec) {
            EXPECT_FALSE(ec);
            completed_on.set_value(std::this_thread::get_id());
        });
    });
    const auto posted = posted_on.get_future().get();
    EXPECT_NE(posted, std::this_thread::get_id());
    EXPECT_EQ(completed_on.get_future().get(), posted);
    EXPECT_EQ(static_cast<char>(back[9]), '9');
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(IoThread, PostsFromManyThreadsAllRunInOrderPerThread) {
    IoThread io(make_io_engine(8));
    constexpr int kThreads = 4, kPosts = 2000;
    std::vector<std::vector<int>> seen(kThreads);  // only the I/O thread writes these
    std::promise<void> last;
    std::atomic<int> remaining{kThreads * kPosts};
    std::vector<std::thread> posters;
    for (int t = 0; t < kThreads; ++t)
        posters.emplace_back([&, t] {
            for (int i = 0; i < kPosts; ++i)
                io.post([&, t, i] {
                    seen[static_cast<std::size_t>(t)].push_back(i);
                    if (--remaining == 0) last.set_value();
                });
        });
    for (auto& p : posters) p.join();
    ASSERT_EQ(last.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
    for (const auto& s : seen) {
        ASSERT_EQ(s.size(), static_cast<std::size_t>(kPosts));
        for (int i = 0; i < kPosts; ++i) ASSERT_EQ(s[static_cast<std::size_t>(i)], i);
    }
}

TEST(IoThread, DestructionWaitsForTheIoInFlight) {
    auto engine = make_io_engine(8);
    if (engine->event_fd() < 0) ISCSIKIT_SKIP_OR_FAIL("io_uring not available here");
    auto io = std::make_unique<IoThread>(std::move(engine));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::vector<std::byte> back(4);
    std::promise<void> submitted;
    std::optional<std::error_code> result;
    io->post([&] {
        io->read(fds[0], 0, back, [&](std::error_code ec) { result = ec; });
        submitted.set_value();
    });
    submitted.get_future().get();
    auto destroyed = std::async(std::launch::async, [&] { io.reset(); });
    // The read waits for the pipe: so does the destructor.
    EXPECT_EQ(destroyed.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
    ASSERT_EQ(::write(fds[1], "abcd", 4), 4);
    ASSERT_EQ(destroyed.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, std::error_code{});
    EXPECT_EQ(static_cast<char>(back[3]), 'd');
    ::close(fds[0]);
    ::close(fds[1]);
}

}  // namespace
}  // namespace iscsikit
