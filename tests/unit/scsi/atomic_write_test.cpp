// COMPARE AND WRITE, ORWRITE(16) and WRITE ATOMIC(16), and the extent lock that keeps other
// commands off their blocks while they run (scsi/extent_lock.hpp), on one thread and across
// threads that share a LogicalUnit as reactors do.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "scsi/extent_lock.hpp"
#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

Bytes caw(std::uint64_t lba, std::uint8_t blocks, std::uint8_t flags = 0) {
    Bytes c = cdb16(0x89, lba, 0, flags);
    c[13] = blocks;
    return c;
}

Bytes write_atomic16(std::uint64_t lba, std::uint16_t blocks, std::uint8_t flags = 0) {
    Bytes c = cdb16(0x9c, lba, 0, flags);
    c[12] = std::uint8_t(blocks >> 8);
    c[13] = std::uint8_t(blocks);
    return c;
}

Bytes concat(const Bytes& a, const Bytes& b) {
    Bytes out = a;
    out.insert(out.end(), b.begin(), b.end());
    return out;
}

Bytes read_blocks(Harness& h, std::uint32_t lba, std::uint16_t blocks) { return bytes_of(h.run(read10(lba, blocks))); }

TEST(CompareAndWrite, WritesWhenTheMediumMatches) {
    Harness h;
    const Bytes old = pattern(1024, 1), fresh = pattern(1024, 9);
    expect_good(h.run(write10(20, 2), old));
    expect_good(h.run(caw(20, 2), concat(old, fresh)));
    EXPECT_EQ(read_blocks(h, 20, 2), fresh);
}

TEST(CompareAndWrite, MiscompareNamesTheFirstDifferingByteAndWritesNothing) {
    Harness h;
    const Bytes old = pattern(1024, 1);
    expect_good(h.run(write10(20, 2), old));
    Bytes verify = old;
    verify[700] ^= 0x40;
    verify[900] ^= 0x01;
    const Command c = h.run(caw(20, 2), concat(verify, pattern(1024, 9)));
    expect_sense(c, SenseKey::miscompare, 0x1d, 0x00);
    ASSERT_TRUE(c.sense.information.has_value());
    EXPECT_EQ(*c.sense.information, 700u);  // SBC-3 §5.2: from the start of the data-out
    EXPECT_EQ(c.data_in_length, 0u);
    EXPECT_EQ(read_blocks(h, 20, 2), old);
}

TEST(CompareAndWrite, FieldsAndLengthsAreChecked) {
    Harness h;
    expect_good(h.run(caw(20, 0)));                                    // no blocks: nothing compared, nothing written
    expect_invalid_cdb_field(h.run(caw(0, 1, 0x20), Bytes(1024)), 1);  // WRPROTECT
    expect_sense(h.run(caw(1023, 2), Bytes(2048)), SenseKey::illegal_request, 0x21, 0x00);
    // The data-out must be the verify and the write instance exactly; 256 blocks wrap the field to 0.
    expect_invalid_cdb_field(h.run(caw(0, 2), Bytes(1024)), 13);
    expect_invalid_cdb_field(h.run(caw(0, 0), Bytes(2 * 256 * 512)), 13);
    EXPECT_TRUE(h.store().writes.empty());
}

TEST(CompareAndWrite, BlockLimitsAdvertisesTheLongestAndLongerIsInvalid) {
    Harness h(ram(1024, 4096));
    const Bytes vpd = bytes_of(h.run({0x12, 0x01, 0xb0, 0, 64, 0}));
    ASSERT_GE(vpd.size(), 48u);
    EXPECT_EQ(vpd[5], 255);  // 2 × 255 × 4 KiB fits the 8 MiB transfer limit
    Bytes c = caw(0, 255);
    Bytes data(2 * 255 * 4096, 0);
    expect_good(h.run(c, data));
}

TEST(OrWrite, OrsTheDataOutIntoTheMedium) {
    Harness h;
    expect_good(h.run(write10(5, 1), Bytes(512, 0x0f)));
    expect_good(h.run(cdb16(0x8b, 5, 1), Bytes(512, 0xa0)));
    EXPECT_EQ(read_blocks(h, 5, 1), Bytes(512, 0xaf));
    expect_good(h.run(cdb16(0x8b, 5, 0)));
    expect_invalid_cdb_field(h.run(cdb16(0x8b, 5, 1, 0x40), Bytes(512)), 1);  // ORPROTECT
    expect_sense(h.run(cdb16(0x8b, 1024, 1), Bytes(512)), SenseKey::illegal_request, 0x21, 0x00);
}

TEST(WriteAtomic16, WritesAllOrNothing) {
    Harness h;
    const Bytes data = pattern(4 * 512, 3);
    expect_good(h.run(write_atomic16(100, 4, 0x08), data));  // FUA
    EXPECT_EQ(read_blocks(h, 100, 4), data);
    EXPECT_TRUE(h.store().writes.back().fua);
    // A short data-out writes nothing (WRITE would write the blocks that came).
    const std::size_t writes = h.store().writes.size();
    expect_sense(h.run(write_atomic16(200, 4), Bytes(512)), SenseKey::illegal_request, 0x0e, 0x03);
    EXPECT_EQ(h.store().writes.size(), writes);
    Bytes boundary = write_atomic16(100, 4);
    boundary[11] = 8;  // ATOMIC BOUNDARY: none offered
    expect_invalid_cdb_field(h.run(boundary, data), 10);
    expect_good(h.run(write_atomic16(0, 0)));
    expect_sense(h.run(write_atomic16(1022, 4), data), SenseKey::illegal_request, 0x21, 0x00);
}

TEST(WriteAtomic16, BlockLimitsAdvertisesAtomicTransfersUpToTheTransferLimit) {
    Harness h;
    const Bytes vpd = bytes_of(h.run({0x12, 0x01, 0xb0, 0, 64, 0}));
    ASSERT_EQ(vpd.size(), 64u);
    auto be32 = [&](std::size_t at) {
        return std::uint32_t(vpd[at]) << 24 | std::uint32_t(vpd[at + 1]) << 16 | std::uint32_t(vpd[at + 2]) << 8 |
               vpd[at + 3];
    };
    EXPECT_EQ(be32(44), be32(8));  // MAXIMUM ATOMIC TRANSFER LENGTH = MAXIMUM TRANSFER LENGTH
    EXPECT_EQ(be32(48), 0u);       // ATOMIC ALIGNMENT
    EXPECT_EQ(be32(52), 0u);       // ATOMIC TRANSFER LENGTH GRANULARITY
}

TEST(AtomicWrites, WriteProtectionRefusesThem) {
    Harness h(ram(1024, 512, true));
    expect_sense(h.run(caw(0, 1), Bytes(1024)), SenseKey::data_protect, 0x27, 0x00);
    expect_sense(h.run(cdb16(0x8b, 0, 1), Bytes(512)), SenseKey::data_protect, 0x27, 0x00);
    expect_sense(h.run(write_atomic16(0, 1), Bytes(512)), SenseKey::data_protect, 0x27, 0x00);
}

// ---- the extent lock ----

Command command(const Bytes& cdb, const Bytes& data_out = {}) {
    Command c;
    std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
    c.nexus = 1;
    for (auto b : data_out) c.buffer.push_back(std::byte{b});
    c.expected_transfer_length = static_cast<std::uint32_t>(data_out.size());
    return c;
}

TEST(ExtentLock, AWriteToTheBlocksOfACompareAndWriteWaitsForIt) {
    Harness h;
    const Bytes old = pattern(512, 1), fresh = pattern(512, 2), other = pattern(512, 3);
    expect_good(h.run(write10(7, 1), old));

    Command compare = command(caw(7, 1), concat(old, fresh));
    Command write = command(write10(7, 1), other);
    Command elsewhere = command(write10(9, 1), other);
    int compared = 0, written = 0, written_elsewhere = 0;
    h.lu->execute(compare, h.io, [&] { ++compared; });  // its read of the medium is queued
    h.lu->execute(write, h.io, [&] { ++written; });
    h.lu->execute(elsewhere, h.io, [&] { ++written_elsewhere; });
    // Only the other blocks' write reached the store; the overlapping one waits.
    ASSERT_EQ(h.store().writes.size(), 2u);  // the setup write and `elsewhere`
    EXPECT_EQ(h.store().writes.back().offset, 9u * 512);
    h.store().drain();
    EXPECT_EQ(compared, 1);
    expect_good(compare);
    EXPECT_EQ(written_elsewhere, 1);
    EXPECT_EQ(written, 1);  // ran after the compare and write, so its data is what stays
    expect_good(write);
    EXPECT_EQ(read_blocks(h, 7, 1), other);
}

TEST(ExtentLock, ACompareAndWriteWaitsForWritesInFlight) {
    Harness h;
    const Bytes fresh = pattern(512, 2), ones(512, 1);
    Command write = command(write10(3, 1), ones);
    Command compare = command(caw(3, 1), concat(ones, fresh));
    int written = 0, compared = 0;
    h.lu->execute(write, h.io, [&] { ++written; });  // in flight, uncompleted
    h.lu->execute(compare, h.io, [&] { ++compared; });
    // The compare does not read the medium before the write is done.
    EXPECT_EQ(h.store().reads, 0);
    h.store().step();  // the write completes; the compare and write runs
    EXPECT_EQ(written, 1);
    EXPECT_EQ(h.store().reads, 1);
    h.store().drain();
    EXPECT_EQ(written, 1);
    EXPECT_EQ(compared, 1);
    expect_good(compare);
    EXPECT_EQ(read_blocks(h, 3, 1), fresh);
}

TEST(ExtentLock, AReadSentFromTheStoresMemoryHoldsItsBlocksUntilTheTransportLetsGo) {
    // A RAM store completes inline and lends its memory: the read completes at once, and its
    // Data-In is read later by the transport, until it resets data_in_hold.
    auto lu = std::make_shared<LogicalUnit>(identity(), ram(64));
    NullIoEngine io;
    const Bytes old = pattern(512, 1), fresh = pattern(512, 2);
    Command setup = command(write10(4, 1), old);
    lu->execute(setup, io, [] {});  // POWER ON
    setup = command(write10(4, 1), old);
    lu->execute(setup, io, [] {});
    expect_good(setup);

    Command read = command(read10(4, 1));
    read.mapped_data_in_ok = true;
    int read_done = 0;
    lu->execute(read, io, [&] { ++read_done; });
    ASSERT_EQ(read_done, 1);
    ASSERT_NE(read.mapped_data_in, nullptr);
    ASSERT_TRUE(read.data_in_hold);

    Command compare = command(caw(4, 1), concat(old, fresh));
    int compared = 0;
    lu->execute(compare, io, [&] { ++compared; });
    EXPECT_EQ(compared, 0);  // waits: the read's bytes are still being sent
    EXPECT_TRUE(std::equal(old.begin(), old.end(), reinterpret_cast<const std::uint8_t*>(read.mapped_data_in)));
    read.data_in_hold.reset();  // the transport has sent them
    EXPECT_EQ(compared, 1);
    expect_good(compare);
}

TEST(ExtentLock, RangesOverlapByBlocks) {
    using detail::LbaRange;
    EXPECT_TRUE((LbaRange{10, 5}.overlaps({14, 1})));
    EXPECT_FALSE((LbaRange{10, 5}.overlaps({15, 1})));
    EXPECT_FALSE((LbaRange{10, 0}.overlaps({10, 1})));
    EXPECT_TRUE((LbaRange{0, ~std::uint64_t{0}}.overlaps({~std::uint64_t{0} - 2, 1})));
    EXPECT_TRUE((LbaRange{~std::uint64_t{0} - 1, ~std::uint64_t{0}}.overlaps({~std::uint64_t{0} - 1, 1})));
}

// An engine whose posts run on the thread that owns it, when that thread polls: what a reactor
// does, so that a command that waited resumes on its own thread.
class PolledEngine final : public IoEngine {
public:
    void read(int, std::uint64_t, ByteSpan, IoCallback done) override { done(unused()); }
    void write(int, std::uint64_t, ConstByteSpan, IoCallback done) override { done(unused()); }
    void write_durable(int, std::uint64_t, ConstByteSpan, IoCallback done) override { done(unused()); }
    void fsync(int, bool, IoCallback done) override { done(unused()); }
    void post(Callback<void()> fn) override {
        std::lock_guard lock(mutex_);
        posted_.push_back(std::move(fn));
    }
    int event_fd() const override { return -1; }
    unsigned reap() override {
        std::deque<Callback<void()>> now;
        {
            std::lock_guard lock(mutex_);
            now.swap(posted_);
        }
        for (auto& fn : now) fn();
        return static_cast<unsigned>(now.size());
    }
    void submit() override {}

private:
    static std::error_code unused() { return std::make_error_code(std::errc::function_not_supported); }
    std::mutex mutex_;
    std::deque<Callback<void()>> posted_;
};

// Threads as reactors, each its own nexus, increment a counter in block 0 with COMPARE AND WRITE
// (read it, then compare the old value and write the new): no increment is lost, which would
// happen if two compares of the same value could both precede their writes. The counter is at
// both ends of the block; a reader checks they agree (no read sees half a write), and a writer
// keeps writing block 1 through the same lock.
TEST(ExtentLock, ThreadsIncrementingACounterWithCompareAndWriteLoseNoIncrement) {
    auto lu = std::make_shared<LogicalUnit>(identity(), ram(64));
    constexpr int kThreads = 4;
    constexpr int kIncrements = 300;
    std::atomic<int> unexpected{0};

    auto run = [&](PolledEngine& io, Command& c) {
        std::atomic<bool> done{false};
        lu->execute(c, io, [&] { done = true; });
        while (!done) {
            io.reap();
            std::this_thread::yield();
        }
    };
    auto counter_of = [](const Command& c) {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v = v << 8 | std::to_integer<std::uint8_t>(c.buffer[i]);
        return v;
    };
    auto block_with = [](std::uint64_t v) {
        Bytes b(512, 0);
        for (int i = 0; i < 8; ++i) b[i] = b[504 + i] = std::uint8_t(v >> (56 - 8 * i));
        return b;
    };
    auto torn = [](const Command& c) {
        return !std::equal(c.buffer.begin(), c.buffer.begin() + 8, c.buffer.begin() + 504);
    };

    auto incrementer = [&](std::uint64_t nexus) {
        PolledEngine io;
        Command c;
        c.nexus = nexus;
        int done = 0;
        while (done < kIncrements) {
            c = command(read10(0, 1));
            c.nexus = nexus;
            run(io, c);
            if (c.status != Status::good) {  // POWER ON for a new nexus; then reads must work
                if (c.sense.key != SenseKey::unit_attention) ++unexpected;
                continue;
            }
            const std::uint64_t seen = counter_of(c);
            c = command(caw(0, 1), concat(block_with(seen), block_with(seen + 1)));
            c.nexus = nexus;
            run(io, c);
            if (c.status == Status::good) {
                ++done;
            } else if (c.sense.key != SenseKey::miscompare) {
                ++unexpected;
            }
        }
    };
    std::atomic<bool> stop{false};
    auto scribbler = [&](std::uint64_t nexus) {
        PolledEngine io;
        Command c;
        for (std::uint8_t i = 0; !stop; ++i) {
            c = command(write10(1, 1), Bytes(512, i));
            c.nexus = nexus;
            run(io, c);
            if (c.status != Status::good && c.sense.key != SenseKey::unit_attention) ++unexpected;
        }
    };
    std::atomic<int> torn_reads{0};
    auto reader = [&](std::uint64_t nexus) {
        PolledEngine io;
        Command c;
        while (!stop) {
            c = command(read10(0, 1));
            c.nexus = nexus;
            run(io, c);
            if (c.status == Status::good && torn(c)) ++torn_reads;
        }
    };
    std::thread scribble(scribbler, 100);
    std::thread read(reader, 101);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(incrementer, std::uint64_t(t + 1));
    for (auto& t : threads) t.join();
    stop = true;
    scribble.join();
    read.join();

    PolledEngine io;
    Command c = command(read10(0, 1));
    c.nexus = 1;
    run(io, c);
    ASSERT_EQ(c.status, Status::good);
    EXPECT_EQ(counter_of(c), std::uint64_t{kThreads} * kIncrements);
    EXPECT_EQ(unexpected.load(), 0);
    EXPECT_EQ(torn_reads.load(), 0);
}

}  // namespace
}  // namespace iscsikit::scsi::test
