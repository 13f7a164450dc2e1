// mount::LunFile against the project's own target in the test process (RAM LUNs): byte-granular
// reads and writes over whole-block SCSI commands, the order of overlapping writes, the end of the
// LUN, write protection, hole punching and the errno each failure becomes.
#include <gtest/gtest.h>

#include <cerrno>
#include <random>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include "initiator/scsi_ops.hpp"
#include "loopback.hpp"
#include "mount/lun_file.hpp"

namespace iscsikit::mount::testing {
namespace {

using initiator::testing::LoopbackTest;
using initiator::testing::random_bytes;
using target::testing::kLunBytes;

class LunFileTest : public LoopbackTest {
protected:
    // Starts the target (with `tweak`), logs in and opens LUN `lun` as a file.
    void open(std::uint64_t lun = 0, const std::function<void(target::DaemonConfig&)>& tweak = {}) {
        start(tweak);
        session_ = connect();
        ASSERT_NE(session_, nullptr);
        auto file = run<Result<std::unique_ptr<LunFile>>>([&] { return LunFile::open(*session_, lun); });
        ASSERT_TRUE(file.has_value()) << file.error().message;
        file_ = std::move(*file);
    }

    Result<std::size_t> write(std::uint64_t offset, std::span<const std::byte> data) {
        return run<Result<std::size_t>>([&] { return file_->write(offset, data); });
    }
    Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) {
        return run<Result<std::size_t>>([&] { return file_->read(offset, out); });
    }
    std::vector<std::byte> read_all() {
        std::vector<std::byte> out(file_->size());
        auto n = read(0, out);
        EXPECT_TRUE(n.has_value() && *n == out.size());
        return out;
    }

    std::shared_ptr<initiator::Session> session_;
    std::unique_ptr<LunFile> file_;
};

TEST_F(LunFileTest, GeometryComesFromTheTarget) {
    open(0, [](target::DaemonConfig& c) { c.targets[0].luns[1].block_size = 4096; });
    EXPECT_EQ(file_->size(), kLunBytes);
    EXPECT_EQ(file_->geometry().block_size, 512u);
    EXPECT_FALSE(file_->geometry().write_protected);
    EXPECT_GT(file_->geometry().max_transfer_bytes, 0u);
    EXPECT_EQ(file_->geometry().max_transfer_bytes % 512, 0u);
    auto other = run<Result<std::unique_ptr<LunFile>>>([&] { return LunFile::open(*session_, 1); });
    ASSERT_TRUE(other.has_value()) << other.error().message;
    EXPECT_EQ((*other)->geometry().block_size, 4096u);
}

TEST_F(LunFileTest, WritesAtAnyOffsetAndLengthMatchAByteModel) {
    open();
    std::vector<std::byte> model(file_->size());
    std::mt19937 rng(7);
    for (int i = 0; i < 200; ++i) {
        const std::size_t length = 1 + rng() % 3000;
        const std::size_t offset = rng() % (model.size() - length);
        const auto data = random_bytes(length, static_cast<unsigned>(i));
        auto n = write(offset, data);
        ASSERT_TRUE(n.has_value()) << n.error().message;
        ASSERT_EQ(*n, length);
        std::copy(data.begin(), data.end(), model.begin() + static_cast<std::ptrdiff_t>(offset));
    }
    EXPECT_EQ(read_all(), model);
    // Reads at odd places give the same bytes.
    for (int i = 0; i < 50; ++i) {
        const std::size_t length = 1 + rng() % 5000;
        const std::size_t offset = rng() % (model.size() - length);
        std::vector<std::byte> out(length);
        auto n = read(offset, out);
        ASSERT_TRUE(n.has_value() && *n == length);
        EXPECT_TRUE(std::equal(out.begin(), out.end(), model.begin() + static_cast<std::ptrdiff_t>(offset)))
            << "read of " << length << " at " << offset;
    }
}

TEST_F(LunFileTest, OverlappingWritesInFlightTogetherEndAsIfRunInTheOrderTheyCame) {
    open();
    // Five writes started at once, each overlapping the next inside shared blocks (partial
    // blocks at both ends: each is a read-modify-write). Run in order, the model holds; mixed,
    // a later write's read-modify-write would bring back an earlier one's stale bytes.
    std::vector<std::byte> model(8192);
    const auto base = random_bytes(model.size(), 99);
    ASSERT_TRUE(write(0, base).has_value());
    model = base;
    std::vector<std::vector<std::byte>> data;
    std::vector<std::size_t> offsets;
    for (int i = 0; i < 5; ++i) {
        offsets.push_back(100 + static_cast<std::size_t>(i) * 300);
        data.push_back(random_bytes(1000, static_cast<unsigned>(i) + 1));
    }
    int done = 0;
    for (int i = 0; i < 5; ++i) {
        asio::co_spawn(
            io_,
            [&, i]() -> asio::awaitable<void> {
                auto n = co_await file_->write(offsets[static_cast<std::size_t>(i)], data[static_cast<std::size_t>(i)]);
                EXPECT_TRUE(n.has_value());
                ++done;
            },
            asio::detached);
        std::copy(data[static_cast<std::size_t>(i)].begin(), data[static_cast<std::size_t>(i)].end(),
                  model.begin() + static_cast<std::ptrdiff_t>(offsets[static_cast<std::size_t>(i)]));
    }
    while (done < 5) io_.run_one();
    std::vector<std::byte> out(model.size());
    ASSERT_TRUE(read(0, out).has_value());
    EXPECT_EQ(out, model);
}

TEST_F(LunFileTest, AWriteAtTheEndFailsWithEnospcAndOneAcrossItIsCutShort) {
    open();
    const auto data = random_bytes(100, 1);
    auto past = write(file_->size(), data);
    ASSERT_FALSE(past.has_value());
    EXPECT_EQ(past.error().code, std::errc::no_space_on_device);
    auto across = write(file_->size() - 10, data);
    ASSERT_TRUE(across.has_value()) << across.error().message;
    EXPECT_EQ(*across, 10u);
    std::vector<std::byte> tail(100);
    auto n = read(file_->size() - 10, tail);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 10u);  // end of file
    EXPECT_TRUE(std::equal(tail.begin(), tail.begin() + 10, data.begin()));
    auto beyond = read(file_->size() + 5, tail);
    ASSERT_TRUE(beyond.has_value());
    EXPECT_EQ(*beyond, 0u);
}

TEST_F(LunFileTest, AWriteProtectedLunRefusesWritesWithErofs) {
    open(0, [](target::DaemonConfig& c) { c.targets[0].luns[0].read_only = true; });
    EXPECT_TRUE(file_->geometry().write_protected);
    const auto data = random_bytes(512, 1);
    auto n = write(0, data);
    ASSERT_FALSE(n.has_value());
    EXPECT_EQ(n.error().code, std::errc::read_only_file_system);
}

TEST_F(LunFileTest, PunchingAHoleInAThinLunReadsZerosAndKeepsTheEdges) {
    open(0, [](target::DaemonConfig& c) { c.targets[0].luns[0].thin = true; });
    ASSERT_TRUE(file_->geometry().thin);
    ASSERT_TRUE(file_->geometry().lbprz);
    auto model = random_bytes(64 * 1024, 5);
    ASSERT_TRUE(write(0, model).has_value());
    const std::size_t offset = 1000, length = 20000;  // partial blocks at both ends
    auto punched = run<Result<void>>([&] { return file_->punch_hole(offset, length); });
    ASSERT_TRUE(punched.has_value()) << punched.error().message;
    std::fill(model.begin() + offset, model.begin() + offset + length, std::byte{0});
    std::vector<std::byte> out(model.size());
    ASSERT_TRUE(read(0, out).has_value());
    EXPECT_EQ(out, model);
}

TEST_F(LunFileTest, PunchingAHoleInAFullyProvisionedLunIsNotSupported) {
    open();
    auto punched = run<Result<void>>([&] { return file_->punch_hole(0, 4096); });
    ASSERT_FALSE(punched.has_value());
    EXPECT_EQ(punched.error().code, std::errc::operation_not_supported);
}

TEST_F(LunFileTest, FlushIsSynchronizeCache) {
    open();
    auto flushed = run<Result<void>>([&] { return file_->flush(); });
    EXPECT_TRUE(flushed.has_value()) << flushed.error().message;
}

TEST(ErrnoFor, SenseBecomesTheErrnoAFileSystemExpects) {
    const auto with_sense = [](scsi::SenseKey key, std::uint8_t asc, std::uint8_t ascq) {
        initiator::Error e = initiator::make_error(initiator::ErrorKind::scsi_error, "x");
        scsi::Sense sense;
        sense.key = key;
        sense.asc = asc;
        sense.ascq = ascq;
        e.sense = sense;
        return e;
    };
    EXPECT_EQ(errno_for(with_sense(scsi::SenseKey::data_protect, 0x27, 0x00)), EROFS);
    EXPECT_EQ(errno_for(with_sense(scsi::SenseKey::data_protect, 0x27, 0x07)), ENOSPC);
    EXPECT_EQ(errno_for(with_sense(scsi::SenseKey::not_ready, 0x3a, 0x00)), ENOMEDIUM);
    EXPECT_EQ(errno_for(with_sense(scsi::SenseKey::medium_error, 0x11, 0x00)), EIO);
    EXPECT_EQ(errno_for(initiator::make_error(initiator::ErrorKind::connection_lost, "x")), EIO);
    EXPECT_EQ(errno_for(initiator::make_error(initiator::ErrorKind::timeout, "x")), EIO);
}

}  // namespace
}  // namespace iscsikit::mount::testing
