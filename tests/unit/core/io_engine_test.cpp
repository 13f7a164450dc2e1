#include "core/io_engine.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
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

    int write_sync(std::uint64_t offset, ConstByteSpan data) {
        int result = 1;
        engine_->write(file_.fd(), offset, data, [&](int res) { result = res; });
        EXPECT_TRUE(run_until(*engine_, [&] { return result != 1; }));
        return result;
    }

    int read_sync(int fd, std::uint64_t offset, ByteSpan data) {
        int result = 1;
        engine_->read(fd, offset, data, [&](int res) { result = res; });
        EXPECT_TRUE(run_until(*engine_, [&] { return result != 1; }));
        return result;
    }

    std::unique_ptr<IoEngine> engine_;
    TempFile file_;
};

TEST_P(IoEngineTest, WriteThenReadReturnsTheSameBytesAndFullLength) {
    auto data = pattern_bytes(8192, 7);
    EXPECT_EQ(write_sync(4096, data), 8192);
    std::vector<std::byte> back(8192);
    EXPECT_EQ(read_sync(file_.fd(), 4096, back), 8192);
    EXPECT_EQ(back, data);
    // The hole before the written range reads as zeroes.
    std::vector<std::byte> hole(4096, std::byte{0xff});
    EXPECT_EQ(read_sync(file_.fd(), 0, hole), 4096);
    EXPECT_EQ(hole, std::vector<std::byte>(4096));
}

TEST_P(IoEngineTest, FsyncAndFdatasyncSucceedOnAFile) {
    auto data = pattern_bytes(512, 1);
    ASSERT_EQ(write_sync(0, data), 512);
    for (bool data_only : {true, false}) {
        int result = 1;
        engine_->fsync(file_.fd(), data_only, [&](int res) { result = res; });
        ASSERT_TRUE(run_until(*engine_, [&] { return result != 1; }));
        EXPECT_EQ(result, 0);
    }
}

TEST_P(IoEngineTest, ReadPastTheEndOfFileIsAnIoErrorNotAShortRead) {
    auto data = pattern_bytes(1024, 3);
    ASSERT_EQ(write_sync(0, data), 1024);
    // Crosses EOF: the first part transfers, the remainder returns 0 -> -EIO.
    std::vector<std::byte> back(2048);
    EXPECT_EQ(read_sync(file_.fd(), 0, back), -EIO);
    // Wholly beyond EOF.
    std::vector<std::byte> beyond(512);
    EXPECT_EQ(read_sync(file_.fd(), 1 << 20, beyond), -EIO);
}

TEST_P(IoEngineTest, BadDescriptorGivesNegativeErrno) {
    std::vector<std::byte> buf(512);
    EXPECT_EQ(read_sync(-1, 0, buf), -EBADF);
    int result = 1;
    engine_->write(-1, 0, buf, [&](int res) { result = res; });
    ASSERT_TRUE(run_until(*engine_, [&] { return result != 1; }));
    EXPECT_EQ(result, -EBADF);
    result = 1;
    engine_->fsync(-1, true, [&](int res) { result = res; });
    ASSERT_TRUE(run_until(*engine_, [&] { return result != 1; }));
    EXPECT_EQ(result, -EBADF);
}

TEST_P(IoEngineTest, WriteToAReadOnlyDescriptorIsEbadf) {
    int ro = ::open(file_.path(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(ro, 0);
    auto data = pattern_bytes(512, 5);
    int result = 1;
    engine_->write(ro, 0, data, [&](int res) { result = res; });
    ASSERT_TRUE(run_until(*engine_, [&] { return result != 1; }));
    EXPECT_EQ(result, -EBADF);
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
        engine_->write(file_.fd(), static_cast<std::uint64_t>(i) * kBlock, blocks[i], [&](int res) {
            ++completed;
            if (res != static_cast<int>(kBlock)) ++failures;
        });
    }
    ASSERT_TRUE(run_until(*engine_, [&] { return completed == kCount; }));
    EXPECT_EQ(failures, 0);

    std::vector<std::vector<std::byte>> back(kCount, std::vector<std::byte>(kBlock));
    completed = 0;
    for (int i = 0; i < kCount; ++i) {
        engine_->read(file_.fd(), static_cast<std::uint64_t>(i) * kBlock, back[i], [&, i](int res) {
            ++completed;
            if (res != static_cast<int>(kBlock) || back[i] != blocks[i]) ++failures;
        });
    }
    ASSERT_TRUE(run_until(*engine_, [&] { return completed == kCount; }));
    EXPECT_EQ(failures, 0);
}

TEST_P(IoEngineTest, CallbacksMayStartNewIoFromInsideTheCompletion) {
    auto data = pattern_bytes(4096, 9);
    std::vector<std::byte> back(4096);
    int read_result = 1;
    engine_->write(file_.fd(), 0, data, [&](int res) {
        ASSERT_EQ(res, 4096);
        engine_->read(file_.fd(), 0, back, [&](int r) { read_result = r; });
    });
    ASSERT_TRUE(run_until(*engine_, [&] { return read_result != 1; }));
    EXPECT_EQ(read_result, 4096);
    EXPECT_EQ(back, data);
}

INSTANTIATE_TEST_SUITE_P(Engines, IoEngineTest, ::testing::Values(Kind::uring, Kind::sync),
                         [](const auto& info) { return info.param == Kind::uring ? "uring" : "sync"; });

// A pipe delivers what has been written so far: the first read completes short, and the engine
// must resubmit for the remainder instead of handing a partial result to the callback.
TEST(UringEngine, ShortReadIsResubmittedForTheRemainder) {
    auto engine = make_io_engine(8);
    if (engine->event_fd() < 0) ISCSIKIT_SKIP_OR_FAIL(kNoUring);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    auto first = pattern_bytes(100, 1);
    auto second = pattern_bytes(156, 2);
    ASSERT_EQ(::write(fds[1], first.data(), first.size()), 100);

    std::vector<std::byte> back(256);
    int result = 1;
    engine->read(fds[0], 0, back, [&](int res) { result = res; });
    engine->submit();
    // Let the first, short, transfer complete; the callback must not have run.
    for (int i = 0; i < 20 && result == 1; ++i) {
        pollfd p{engine->event_fd(), POLLIN, 0};
        ::poll(&p, 1, 10);
        engine->reap();
    }
    EXPECT_EQ(result, 1);
    ASSERT_EQ(::write(fds[1], second.data(), second.size()), 156);
    ASSERT_TRUE(run_until(*engine, [&] { return result != 1; }));
    EXPECT_EQ(result, 256);
    std::vector<std::byte> expected = first;
    expected.insert(expected.end(), second.begin(), second.end());
    EXPECT_EQ(back, expected);
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(UringEngine, EventFdIsReadableOnlyWhileCompletionsWait) {
    auto engine = make_io_engine(8);
    if (engine->event_fd() < 0) ISCSIKIT_SKIP_OR_FAIL(kNoUring);
    TempFile file;
    auto data = pattern_bytes(512, 4);
    int result = 1;
    engine->write(file.fd(), 0, data, [&](int res) { result = res; });
    engine->submit();
    pollfd p{engine->event_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    EXPECT_EQ(engine->reap(), 1u);
    EXPECT_EQ(result, 512);
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
    engine->read(fds[0], 0, back, [&](int) { called = true; });
    engine->submit();
    engine.reset();  // cancels the blocked pipe read and waits for it
    EXPECT_FALSE(called);
    ::close(fds[0]);
    ::close(fds[1]);
}

TEST(SyncEngine, CompletesInlineAndHasNoEventFd) {
    auto engine = make_sync_io_engine();
    EXPECT_EQ(engine->event_fd(), -1);
    TempFile file;
    auto data = pattern_bytes(512, 8);
    int result = 1;
    engine->write(file.fd(), 0, data, [&](int res) { result = res; });
    EXPECT_EQ(result, 512);
    EXPECT_EQ(engine->reap(), 0u);
}

}  // namespace
}  // namespace iscsikit
