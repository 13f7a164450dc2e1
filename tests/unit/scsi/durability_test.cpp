// Acknowledged writes are durable (DESIGN.md "Errors and bad input"; SBC-3 §5.35 FUA, §5.22-5.23
// SYNCHRONIZE CACHE): a store that records its durability calls and holds their completions shows
// that GOOD never goes out before the store said the data is stable, and that a failed flush or
// forced write is a CHECK CONDITION with MEDIUM ERROR / WRITE ERROR (0Ch/00h).
#include <string>

#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

// A RAM store that logs "write", "write+fua" and "flush" in call order, completes nothing until
// release(), and can fail the durable calls with EIO.
class DurabilityProbe final : public backstore::Backstore {
public:
    explicit DurabilityProbe(std::unique_ptr<backstore::Backstore> inner) : inner_(std::move(inner)) {}
    std::string describe() const override { return "probe:" + inner_->describe(); }
    std::uint64_t size_bytes() const override { return inner_->size_bytes(); }
    std::uint32_t block_size() const override { return inner_->block_size(); }
    bool read_only() const override { return inner_->read_only(); }
    void read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) override {
        inner_->read(offset, dst, io, hold(std::move(done), {}));
    }
    void write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) override {
        calls.push_back(fua ? "write+fua" : "write");
        inner_->write(offset, src, fua, io, hold(std::move(done), fua && fail_durable ? eio() : std::error_code{}));
    }
    void flush(IoEngine& io, IoCallback done) override {
        calls.push_back("flush");
        inner_->flush(io, hold(std::move(done), fail_durable ? eio() : std::error_code{}));
    }
    // Completes what the store holds, in order; returns how many.
    int release() {
        int n = 0;
        while (!held_.empty()) {
            auto next = std::move(held_.front());
            held_.erase(held_.begin());
            next();
            ++n;
        }
        return n;
    }
    std::vector<std::string> calls;
    bool fail_durable = false;  // forced writes and flushes fail with EIO

private:
    static std::error_code eio() { return std::make_error_code(std::errc::io_error); }
    // Holds the completion; `failure`, when set, replaces what the inner store reported.
    IoCallback hold(IoCallback done, std::error_code failure) {
        return [this, done = std::move(done), failure](std::error_code ec) mutable {
            held_.push_back([done = std::move(done), e = failure ? failure : ec] { done(e); });
        };
    }
    std::unique_ptr<backstore::Backstore> inner_;
    std::vector<Callback<void()>> held_;
};

class Durability : public ::testing::Test {
protected:
    void SetUp() override {
        auto probe = std::make_unique<DurabilityProbe>(ram());
        store_ = probe.get();
        lu_ = std::make_shared<LogicalUnit>(identity(), std::move(probe));
        auto ua = start({0x00, 0, 0, 0, 0, 0});  // the power-on UNIT ATTENTION
        store_->release();
        store_->calls.clear();
    }

    // Starts a command; it finishes only once the store's completions are released.
    struct Started {
        std::unique_ptr<Command> cmd = std::make_unique<Command>();
        std::shared_ptr<int> done = std::make_shared<int>(0);
    };
    Started start(Bytes cdb, Bytes data_out = {}) {
        Started s;
        std::copy(cdb.begin(), cdb.end(), s.cmd->cdb.begin());
        s.cmd->nexus = 1;
        for (auto b : data_out) s.cmd->buffer.push_back(std::byte{b});
        s.cmd->expected_transfer_length = static_cast<std::uint32_t>(data_out.size());
        lu_->execute(*s.cmd, io_, [d = s.done] { ++*d; });
        return s;
    }

    // The command must still be waiting after the durable call, and finish once it completes.
    void expect_status_waits_for_the_store(Started& s, const std::vector<std::string>& calls) {
        EXPECT_EQ(store_->calls, calls);
        EXPECT_EQ(*s.done, 0) << "the status went out before the store said the data is stable";
        EXPECT_GE(store_->release(), 1);
        EXPECT_EQ(*s.done, 1);
    }

    DurabilityProbe* store_ = nullptr;
    std::shared_ptr<LogicalUnit> lu_;
    NullIoEngine io_;
};

constexpr std::uint8_t kFua = 0x08;  // SBC-3: byte 1 bit 3 of WRITE(10/12/16)

TEST_F(Durability, Write10WithFuaIsAForcedWriteCompletedBeforeGood) {
    auto s = start(write10(8, 2, kFua), Bytes(1024, 0xa5));
    expect_status_waits_for_the_store(s, {"write+fua"});
    expect_good(*s.cmd);
}

TEST_F(Durability, Write16WithFuaIsAForcedWriteCompletedBeforeGood) {
    auto s = start(cdb16(0x8a, 8, 2, kFua), Bytes(1024, 0x5a));
    expect_status_waits_for_the_store(s, {"write+fua"});
    expect_good(*s.cmd);
}

TEST_F(Durability, WriteWithoutFuaAndTheWriteCacheOnIsNotForced) {
    // The contrast: without FUA the store is free to cache, so the FUA tests above are not vacuous.
    auto s = start(write10(8, 2), Bytes(1024, 1));
    expect_status_waits_for_the_store(s, {"write"});
    expect_good(*s.cmd);
}

TEST_F(Durability, SynchronizeCache10And16FlushBeforeGood) {
    auto w = start(write10(0, 1), Bytes(512, 7));
    store_->release();
    auto s10 = start({0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    expect_status_waits_for_the_store(s10, {"write", "flush"});
    expect_good(*s10.cmd);
    auto s16 = start(cdb16(0x91, 0, 0));
    expect_status_waits_for_the_store(s16, {"write", "flush", "flush"});
    expect_good(*s16.cmd);
}

TEST_F(Durability, SynchronizeCacheWithImmedStillWaitsForTheFlush) {
    // SBC-3 allows an early status with IMMED=1; this target promises stable data at GOOD anyway.
    auto s = start({0x35, 0x02, 0, 0, 0, 0, 0, 0, 0, 0});
    expect_status_waits_for_the_store(s, {"flush"});
    expect_good(*s.cmd);
}

TEST_F(Durability, FailedFlushIsCheckConditionMediumErrorWriteError) {
    store_->fail_durable = true;
    auto s = start(cdb16(0x91, 0, 0));
    expect_status_waits_for_the_store(s, {"flush"});
    expect_sense(*s.cmd, SenseKey::medium_error, 0x0c, 0x00);
}

TEST_F(Durability, FailedForcedWriteIsCheckConditionMediumErrorWriteError) {
    store_->fail_durable = true;
    auto s = start(write10(8, 2, kFua), Bytes(1024, 3));
    expect_status_waits_for_the_store(s, {"write+fua"});
    expect_sense(*s.cmd, SenseKey::medium_error, 0x0c, 0x00);
}

}  // namespace
}  // namespace iscsikit::scsi::test
