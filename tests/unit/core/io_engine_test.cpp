#include "core/io_engine.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "skip_or_fail.hpp"

namespace iscsikit {
namespace {

constexpr const char* kNoUring =
    "io_uring not available here: needs Linux >= 5.6 with io_uring enabled (sysctl kernel.io_uring_disabled=0) "
    "and not blocked by a seccomp profile (e.g. docker run --security-opt seccomp=unconfined)";

// A temporary file, removed with the fixture.
class TempFile {
public:
    TempFile() {
        std::string pattern = ::testing::TempDir() + "io_engine_XXXXXX";
        path_.assign(pattern.begin(), pattern.end());
        path_.push_back('\0');
        fd_ = ::mkstemp(path_.data());
    }
    ~TempFile() {
        if (fd_ >= 0) ::close(fd_);
        ::unlink(path_.data());
    }
    int fd() const { return fd_; }
    const char* path() const { return path_.data(); }

private:
    std::vector<char> path_;
    int fd_ = -1;
};

std::vector<std::byte> pattern_bytes(std::size_t n, unsigned seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<unsigned char>((i * 31 + seed) & 0xff));
    return v;
}

std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts) {
    std::vector<std::byte> all;
    for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
    return all;
}

// What a reactor does: submit, wait for the eventfd, reap; until `done` holds (5 s at most).
template <class Pred>
bool run_until(IoEngine& engine, Pred done) {
    engine.submit();
    for (int turns = 0; !done(); ++turns) {
        if (turns > 1000) return false;
        if (engine.event_fd() >= 0) {
            pollfd p{engine.event_fd(), POLLIN, 0};
            if (::poll(&p, 1, 5000) == 0) return false;
        }
        engine.reap();
        engine.submit();
    }
    return true;
}

enum class Kind { uring, sync };

class IoEngineTest : public ::testing::TestWithParam<Kind> {
protected:
    void SetUp() override {
        engine_ = GetParam() == Kind::uring ? make_io_engine(8) : make_sync_io_engine();
        if (GetParam() == Kind::uring && engine_->event_fd() < 0) ISCSIKIT_SKIP_OR_FAIL(kNoUring);
        ASSERT_GE(file_.fd(), 0);
    }

    // What the callback got; nothing when it did not run.
    std::optional<std::error_code> write_sync(std::uint64_t offset, ConstByteSpan data) {
        std::optional<std::error_code> result;
        engine_->write(file_.fd(), offset, data, [&](std::error_code ec) { result = ec; });
        EXPECT_TRUE(run_until(*engine_, [&] { return result.has_value(); }));
        return result;
    }

    std::optional<std::error_code> read_sync(int fd, std::uint64_t offset, ByteSpan data) {
        std::optional<std::error_code> result;
        engine_->read(fd, offset, data, [&](std::error_code ec) { result = ec; });
        EXPECT_TRUE(run_until(*engine_, [&] { return result.has_value(); }));
        return result;
    }

    std::unique_ptr<IoEngine> engine_;
    TempFile file_;
};

TEST_P(IoEngineTest, WriteThenReadReturnsTheSameBytesAndFullLength) {
    // Success means the full length: the bytes compared below are all of them.
    auto data = pattern_bytes(8192, 7);
    EXPECT_EQ(write_sync(4096, data), std::error_code{});
    std::vector<std::byte> back(8192);
    EXPECT_EQ(read_sync(file_.fd(), 4096, back), std::error_code{});
    EXPECT_EQ(back, data);
    // The hole before the written range reads as zeroes.
    std::vector<std::byte> hole(4096, std::byte{0xff});
    EXPECT_EQ(read_sync(file_.fd(), 0, hole), std::error_code{});
    EXPECT_EQ(hole, std::vector<std::byte>(4096));
}

// FUA's write: RWF_DSYNC makes write and sync one operation; it lands like a write and fails
// like one.
TEST_P(IoEngineTest, DurableWriteLandsLikeAWriteAndFailsLikeOne) {
    auto data = pattern_bytes(8192, 11);
    std::optional<std::error_code> result;
    engine_->write_durable(file_.fd(), 512, data, [&](std::error_code ec) { result = ec; });
    ASSERT_TRUE(run_until(*engine_, [&] { return result.has_value(); }));
    EXPECT_EQ(result, std::error_code{});
    std::vector<std::byte> back(8192);
    EXPECT_EQ(read_sync(file_.fd(), 512, back), std::error_code{});
    EXPECT_EQ(back, data);
    int ro = ::open(file_.path(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(ro, 0);
    result.reset();
    engine_->write_durable(ro, 0, data, [&](std::error_code ec) { result = ec; });
    ASSERT_TRUE(run_until(*engine_, [&] { return result.has_value(); }));
    EXPECT_EQ(result, std::errc::bad_file_descriptor);
    ::close(ro);
}

TEST_P(IoEngineTest, FsyncAndFdatasyncSucceedOnAFile) {
    auto data = pattern_bytes(512, 1);
    ASSERT_EQ(write_sync(0, data), std::error_code{});
    for (bool data_only : {true, false}) {
        std::optional<std::error_code> result;
        engine_->fsync(file_.fd(), data_only, [&](std::error_code ec) { result = ec; });
        ASSERT_TRUE(run_until(*engine_, [&] { return result.has_value(); }));
        EXPECT_EQ(result, std::error_code{});
    }
}

TEST_P(IoEngineTest, ReadPastTheEndOfFileIsAnIoErrorNotAShortRead) {
    auto data = pattern_bytes(1024, 3);
    ASSERT_EQ(write_sync(0, data), std::error_code{});
    // Crosses EOF: the first part transfers, the remainder returns 0 -> EIO.
    std::vector<std::byte> back(2048);
    EXPECT_EQ(read_sync(file_.fd(), 0, back), std::errc::io_error);
    // Wholly beyond EOF.
    std::vector<std::byte> beyond(512);
    EXPECT_EQ(read_sync(file_.fd(), 1 << 20, beyond), std::errc::io_error);
}

TEST_P(IoEngineTest, BadDescriptorGivesEbadf) {
    std::vector<std::byte> buf(512);
    EXPECT_EQ(read_sync(-1, 0, buf), std::errc::bad_file_descriptor);
    std::optional<std::error_code> result;
    engine_->write(-1, 0, buf, [&](std::error_code ec) { result = ec; });
    ASSERT_TRUE(run_until(*engine_, [&] { return result.has_value(); }));
    EXPECT_EQ(result, std::errc::bad_file_descriptor);
    result.reset();
    engine_->fsync(-1, true, [&](std::error_code ec) { result = ec; });
    ASSERT_TRUE(run_until(*engine_, [&] { return result.has_value(); }));
    EXPECT_EQ(result, std::errc::bad_file_descriptor);
}

TEST_P(IoEngineTest, WriteToAReadOnlyDescriptorIsEbadf) {
    int ro = ::open(file_.path(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(ro, 0);
    auto data = pattern_bytes(512, 5);
    std::optional<std::error_code> result;
    engine_->write(ro, 0, data, [&](std::error_code ec) { result = ec; });
    ASSERT_TRUE(run_until(*engine_, [&] { return result.has_value(); }));
    EXPECT_EQ(result, std::errc::bad_file_descriptor);
    ::close(ro);
}

TEST_P(IoEngineTest, ManyOperationsInFlightBeyondTheQueueDepthAllComplete) {
    // Queue depth is 8: 300 writes overflow the SQ (submit-and-retry) and the in-flight cap (backlog).
    constexpr int kCount = 300;
    constexpr std::size_t kBlock = 4096;
    std::vector<std::vector<std::byte>> blocks;
    for (int i = 0; i < kCount; ++i) blocks.push_back(pattern_bytes(kBlock, static_cast<unsigned>(i)));
    int completed = 0, failures = 0;
    for (int i = 0; i < kCount; ++i) {
        engine_->write(file_.fd(), static_cast<std::uint64_t>(i) * kBlock, blocks[i], [&](std::error_code ec) {
            ++completed;
            if (ec) ++failures;
        });
    }
    ASSERT_TRUE(run_until(*engine_, [&] { return completed == kCount; }));
    EXPECT_EQ(failures, 0);

    std::vector<std::vector<std::byte>> back(kCount, std::vector<std::byte>(kBlock));
    completed = 0;
    for (int i = 0; i < kCount; ++i) {
        engine_->read(file_.fd(), static_cast<std::uint64_t>(i) * kBlock, back[i], [&, i](std::error_code ec) {
            ++completed;
            if (ec || back[i] != blocks[i]) ++failures;
        });
    }
    ASSERT_TRUE(run_until(*engine_, [&] { return completed == kCount; }));
    EXPECT_EQ(failures, 0);
}

TEST_P(IoEngineTest, CallbacksMayStartNewIoFromInsideTheCompletion) {
    auto data = pattern_bytes(4096, 9);
    std::vector<std::byte> back(4096);
    std::optional<std::error_code> read_result;
    engine_->write(file_.fd(), 0, data, [&](std::error_code ec) {
        ASSERT_EQ(ec, std::error_code{});
        engine_->read(file_.fd(), 0, back, [&](std::error_code r) { read_result = r; });
    });
    ASSERT_TRUE(run_until(*engine_, [&] { return read_result.has_value(); }));
    EXPECT_EQ(read_result, std::error_code{});
    EXPECT_EQ(back, data);
}

INSTANTIATE_TEST_SUITE_P(Engines, IoEngineTest, ::testing::Values(Kind::uring, Kind::sync),
                         [](const auto& info) { return info.param == Kind::uring ? "uring" : "sync"; });

// A pipe delivers what has been written so far: the first read completes short, and the engine
// must resubmit for the remainder instead of handing a partial result to the callback.
// readv: one read of consecutive bytes into scattered buffers (the cache's frames), in order.
TEST_P(IoEngineTest, ScatteredReadFillsEveryPieceInOrderAndFailsPastTheEnd) {
    auto data = pattern_bytes(12288, 5);
    ASSERT_EQ(write_sync(0, data), std::error_code{});
    std::vector<std::byte> a(4096), b(1024), c(7168);
    std::vector<iovec> pieces{{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
    std::optional<std::error_code> result;
    engine_->readv(file_.fd(), 0, pieces, [&](std::error_code ec) { result = ec; });
    ASSERT_TRUE(run_until(*engine_, [&] { return result.has_value(); }));
    EXPECT_EQ(result, std::error_code{});
    EXPECT_EQ(concat({a, b, c}), data);
    // Crossing the end of the file: an error, as for read, never a silent short read.
    pieces = {{a.data(), a.size()}, {b.data(), b.size()}};
    result.reset();
    engine_->readv(file_.fd(), 8192, pieces, [&](std::error_code ec) { result = ec; });
    ASSERT_TRUE(run_until(*engine_, [&] { return result.has_value(); }));
    EXPECT_EQ(result, std::errc::io_error);
}

// A pipe holds 100 bytes, then, once the engine has seen that short transfer and not called back,
// 156 more: `start` reads 256 bytes from it, `received` says where they landed, in order.
void expect_short_read_continued(const std::function<void(IoEngine&, int, IoCallback)>& start,
                                 const std::function<std::vector<std::byte>()>& received) {
    auto engine = make_io_engine(8);
    if (engine->event_fd() < 0) ISCSIKIT_SKIP_OR_FAIL(kNoUring);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    auto first = pattern_bytes(100, 1);
    auto second = pattern_bytes(156, 2);
    ASSERT_EQ(::write(fds[1], first.data(), first.size()), 100);

    std::optional<std::error_code> result;
    start(*engine, fds[0], [&](std::error_code ec) { result = ec; });
    engine->submit();
    // Let the first, short, transfer complete; the callback must not have run.
    for (int i = 0; i < 20 && !result; ++i) {
        pollfd p{engine->event_fd(), POLLIN, 0};
        ::poll(&p, 1, 10);
        engine->reap();
    }
    EXPECT_FALSE(result.has_value());
    ASSERT_EQ(::write(fds[1], second.data(), second.size()), 156);
    ASSERT_TRUE(run_until(*engine, [&] { return result.has_value(); }));
    EXPECT_EQ(result, std::error_code{});  // success: all 256 bytes, compared below
    EXPECT_EQ(received(), concat({first, second}));
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(UringEngine, ShortReadIsResubmittedForTheRemainder) {
    std::vector<std::byte> back(256);
    expect_short_read_continued(
        [&](IoEngine& engine, int fd, IoCallback done) { engine.read(fd, 0, back, std::move(done)); },
        [&] { return back; });
}

TEST(UringEngine, ShortScatteredReadContinuesInsideThePieceItStoppedIn) {
    std::vector<std::byte> a(64), b(64), c(128);  // the first 100 bytes end 36 bytes into b
    std::vector<iovec> pieces{{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
    expect_short_read_continued(
        [&](IoEngine& engine, int fd, IoCallback done) { engine.readv(fd, 0, pieces, std::move(done)); },
        [&] {
            return concat({a, b, c});
        });
}

TEST(UringEngine, EventFdIsReadableOnlyWhileCompletionsWait) {
    auto engine = make_io_engine(8);
    if (engine->event_fd() < 0) ISCSIKIT_SKIP_OR_FAIL(kNoUring);
    TempFile file;
    auto data = pattern_bytes(512, 4);
    std::optional<std::error_code> result;
    engine->write(file.fd(), 0, data, [&](std::error_code ec) { result = ec; });
    engine->submit();
    pollfd p{engine->event_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    EXPECT_EQ(engine->reap(), 1u);
    EXPECT_EQ(result, std::error_code{});
    p.revents = 0;
    EXPECT_EQ(::poll(&p, 1, 0), 0);  // reap() cleared it
}

TEST(UringEngine, DestroyingTheEngineWithAReadPendingDoesNotHang) {
    auto engine = make_io_engine(8);
    if (engine->event_fd() < 0) ISCSIKIT_SKIP_OR_FAIL(kNoUring);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::vector<std::byte> back(64);
    bool called = false;
    engine->read(fds[0], 0, back, [&](std::error_code) { called = true; });
    engine->submit();
    engine.reset();  // cancels the blocked pipe read and waits for it
    EXPECT_FALSE(called);
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(UringEngine, AfterCompletesOnceTheDelayHasPassedWithoutBlocking) {
    auto engine = make_io_engine(8);
    if (engine->event_fd() < 0) ISCSIKIT_SKIP_OR_FAIL(kNoUring);
    const auto started = std::chrono::steady_clock::now();
    std::optional<std::error_code> result;
    engine->after(std::chrono::milliseconds(30), [&](std::error_code ec) { result = ec; });
    engine->submit();
    EXPECT_FALSE(result.has_value());  // after() returned at once
    ASSERT_TRUE(run_until(*engine, [&] { return result.has_value(); }));
    EXPECT_EQ(result, std::error_code{});
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(30));
}

TEST(SyncEngine, AfterRunsAtOnce) {
    auto engine = make_sync_io_engine();
    std::optional<std::error_code> result;
    engine->after(std::chrono::seconds(10), [&](std::error_code ec) { result = ec; });
    EXPECT_EQ(result, std::error_code{});
}

TEST(SyncEngine, CompletesInlineAndHasNoEventFd) {
    auto engine = make_sync_io_engine();
    EXPECT_EQ(engine->event_fd(), -1);
    TempFile file;
    auto data = pattern_bytes(512, 8);
    std::optional<std::error_code> result;
    engine->write(file.fd(), 0, data, [&](std::error_code ec) { result = ec; });
    EXPECT_EQ(result, std::error_code{});
    EXPECT_EQ(engine->reap(), 0u);
}

}  // namespace
}  // namespace iscsikit
