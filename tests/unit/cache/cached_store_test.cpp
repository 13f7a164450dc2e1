// The block cache against a RAM store it counts the calls of: data always reads back as the
// model says, hits cost no store read, concurrent misses share one read, lent pages stay while
// pinned, a scan leaves the hot set, read-ahead runs ahead of a stream, write-back holds dirty
// pages until flushed (coalesced), FUA and flush are durable, the dirty limit holds writers back.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <string>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backstore/backstore.hpp"
#include "cache/cached_store.hpp"
#include "waiter.hpp"
#include "core/byte_buffer.hpp"

namespace iscsikit::cache {
namespace {

using testing::Waiter;

using backstore::Backstore;

// A RAM store that counts reads and writes and can hold completions back (`gate`), or fail writes.
class CountingStore final : public Backstore {
public:
    explicit CountingStore(std::uint64_t size, std::uint32_t block_size = 512) {
        backstore::Options options;
        options.size = size;
        options.block_size = block_size;
        inner_ = std::move(*backstore::make_ram(options));
    }
    std::string describe() const override { return "counting " + inner_->describe(); }
    std::uint64_t size_bytes() const override { return inner_->size_bytes(); }
    std::uint32_t block_size() const override { return inner_->block_size(); }
    bool read_only() const override { return false; }

    void read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) override {
        reads.fetch_add(1);
        read_bytes.fetch_add(dst.size());
        pass([this, offset, dst, &io, done = std::move(done)]() mutable {
            inner_->read(offset, dst, io, std::move(done));
        });
    }
    void readv(std::uint64_t offset, std::span<iovec> pieces, IoEngine& io, IoCallback done) override {
        reads.fetch_add(1);
        read_bytes.fetch_add(total_length(pieces));
        scattered_reads.fetch_add(1);
        pass([this, offset, pieces, &io, done = std::move(done)]() mutable {
            inner_->readv(offset, pieces, io, std::move(done));
        });
    }
    void write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) override {
        writes.fetch_add(1);
        if (fua) fua_writes.fetch_add(1);
        if (fail_writes) return done(std::make_error_code(std::errc::io_error));
        if (const int us = write_delay_us.load()) std::this_thread::sleep_for(std::chrono::microseconds(us));
        inner_->write(offset, src, fua, io, std::move(done));
    }
    void flush(IoEngine& io, IoCallback done) override {
        flushes.fetch_add(1);
        inner_->flush(io, std::move(done));
    }
    void unmap(std::uint64_t offset, std::uint64_t length, IoEngine& io, IoCallback done) override {
        inner_->unmap(offset, length, io, std::move(done));
    }
    // What the medium holds, past any cache.
    std::vector<std::byte> medium(std::uint64_t offset, std::size_t n) const {
        std::vector<std::byte> v(n);
        std::memcpy(v.data(), inner_->mapped(offset, n), n);
        return v;
    }
    std::size_t held() {
        std::lock_guard lock(mutex_);
        return held_.size();
    }
    void release() {
        std::vector<Callback<void()>> run;
        {
            std::lock_guard lock(mutex_);
            gate = false;
            run.swap(held_);
        }
        for (auto& f : run) f();
    }

    std::atomic<int> reads{0}, writes{0}, fua_writes{0}, flushes{0};
    std::atomic<int> scattered_reads{0};  // readv: straight into frames
    std::atomic<std::uint64_t> read_bytes{0};
    bool gate = false;
    std::atomic<bool> fail_writes{false};
    std::atomic<int> write_delay_us{0};  // a slow medium

private:
    // A read goes to the RAM store now, or is held back while `gate` is set.
    void pass(Callback<void()> read) {
        std::unique_lock lock(mutex_);
        if (gate) {
            held_.push_back(std::move(read));
            return;
        }
        lock.unlock();
        read();
    }

    std::unique_ptr<Backstore> inner_;
    std::mutex mutex_;
    std::vector<Callback<void()>> held_;
};

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
    std::vector<std::byte> v(n);
    std::mt19937 rng(seed);
    for (auto& b : v) b = std::byte(static_cast<unsigned char>(rng()));
    return v;
}

class CachedStoreTest : public ::testing::Test {
protected:
    void make(std::uint64_t size, CacheOptions options, std::uint32_t block_size = 512) {
        auto inner = std::make_unique<CountingStore>(size, block_size);
        store_ = inner.get();
        cache_ = std::make_unique<CachedStore>(std::move(inner), options);
    }
    std::error_code write(std::uint64_t offset, const std::vector<std::byte>& data, bool fua = false) {
        Waiter w;
        cache_->write(offset, ConstByteSpan(data.data(), data.size()), fua, *io_, w.callback());
        return w.wait();
    }
    std::vector<std::byte> read(std::uint64_t offset, std::size_t n) {
        ByteBuffer buffer;
        buffer.resize_for_overwrite(n);
        Waiter w;
        cache_->read(offset, ByteSpan(buffer.data(), n), *io_, w.callback());
        EXPECT_FALSE(w.wait());
        return {buffer.begin(), buffer.end()};
    }
    std::error_code flush() {
        Waiter w;
        cache_->flush(*io_, w.callback());
        return w.wait();
    }

    std::unique_ptr<IoEngine> io_ = make_sync_io_engine();
    CountingStore* store_ = nullptr;
    std::unique_ptr<CachedStore> cache_;
};

CacheOptions options(WriteMode mode, std::uint64_t size, bool read_ahead = false) {
    CacheOptions o;
    o.mode = mode;
    o.size_bytes = size;
    o.read_ahead = read_ahead;
    o.read_ahead_thread = false;               // read-ahead done before the read that asked returns
    o.flush_interval = std::chrono::hours(1);  // only what a test asks for is written back
    return o;
}

// Random reads and writes of 512-byte multiples, most of them unaligned to pages, against a
// model, with a cache far smaller than the LU so that pages are evicted and read again.
void random_against_model(WriteMode mode, CountingStore*& store,
                          const std::function<std::error_code(std::uint64_t, const std::vector<std::byte>&)>& write,
                          const std::function<std::vector<std::byte>(std::uint64_t, std::size_t)>& read) {
    constexpr std::uint64_t kSize = 8u << 20;
    std::vector<std::byte> model(kSize);
    std::mt19937 rng(7);
    for (int i = 0; i < 600; ++i) {
        const std::uint64_t blocks = 1 + rng() % 64;
        const std::uint64_t offset = (rng() % (kSize / 512 - blocks)) * 512;
        if (rng() % 2) {
            auto data = pattern(blocks * 512, static_cast<unsigned>(i));
            ASSERT_FALSE(write(offset, data));
            std::memcpy(model.data() + offset, data.data(), data.size());
            if (mode == WriteMode::writethrough) {
                ASSERT_EQ(store->medium(offset, data.size()), data) << i;
            }
        } else {
            auto got = read(offset, blocks * 512);
            ASSERT_TRUE(std::equal(got.begin(), got.end(), model.begin() + static_cast<std::ptrdiff_t>(offset))) << i;
        }
    }
    auto all = read(0, kSize);
    ASSERT_TRUE(all == model);
}

TEST_F(CachedStoreTest, WritethroughReadsBackTheModelAndTheMediumHasEveryWrite) {
    make(8u << 20, options(WriteMode::writethrough, 1u << 20, true));
    random_against_model(
        WriteMode::writethrough, store_, [&](auto o, const auto& d) { return write(o, d); },
        [&](auto o, auto n) { return read(o, n); });
    EXPECT_GT(cache_->stats().evictions, 0u);
}

TEST_F(CachedStoreTest, WritebackReadsBackTheModelAndAFlushPutsItOnTheMedium) {
    make(8u << 20, options(WriteMode::writeback, 1u << 20, true));
    std::vector<std::byte> model(8u << 20);
    random_against_model(
        WriteMode::writeback, store_,
        [&](auto o, const auto& d) {
            std::memcpy(model.data() + o, d.data(), d.size());
            return write(o, d);
        },
        [&](auto o, auto n) { return read(o, n); });
    ASSERT_FALSE(flush());
    EXPECT_EQ(cache_->stats().dirty, 0u);
    EXPECT_TRUE(store_->medium(0, model.size()) == model);
    EXPECT_GT(store_->flushes.load(), 0);
}

TEST_F(CachedStoreTest, AHitCostsNoStoreRead) {
    make(1u << 20, options(WriteMode::writethrough, 1u << 20));
    read(8192, 16384);
    const int reads = store_->reads.load();
    EXPECT_EQ(reads, 1);  // four pages, one store read
    read(8192, 16384);
    read(12288, 4096);
    EXPECT_EQ(store_->reads.load(), reads);
    const auto s = cache_->stats();
    EXPECT_EQ(s.misses, 4u);
    EXPECT_EQ(s.hits, 5u);
}

TEST_F(CachedStoreTest, ConcurrentMissesOnOnePageWaitForOneRead) {
    make(1u << 20, options(WriteMode::writethrough, 1u << 20));
    store_->gate = true;
    ByteBuffer a, b, c;
    a.resize_for_overwrite(4096);
    b.resize_for_overwrite(4096);
    c.resize_for_overwrite(8192);
    Waiter wa, wb, wc;
    // Pages 12 and 13, not resident.
    cache_->read(49152, ByteSpan(a.data(), 4096), *io_, wa.callback());
    cache_->read(49152, ByteSpan(b.data(), 4096), *io_, wb.callback());
    cache_->read(49152, ByteSpan(c.data(), 8192), *io_, wc.callback());
    EXPECT_EQ(store_->held(), 2u);  // page 12 once, page 13 once, however many commands want them
    EXPECT_FALSE(wa.result.has_value());
    store_->release();
    EXPECT_FALSE(wa.wait());
    EXPECT_FALSE(wb.wait());
    EXPECT_FALSE(wc.wait());
    EXPECT_EQ(store_->reads.load(), 2);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), 4096), 0);
    EXPECT_EQ(std::memcmp(a.data(), c.data(), 4096), 0);
}

TEST_F(CachedStoreTest, ALentPageStaysUntilItsHoldGoes) {
    make(16u << 20, options(WriteMode::writethrough, 1u << 20));  // 256 pages for 4096 of LU
    auto data = pattern(4096, 9);
    ASSERT_FALSE(write(0, data));
    auto lent = cache_->lend(512, 1024, *io_);
    ASSERT_NE(lent.data, nullptr);
    ASSERT_TRUE(lent.hold);
    // Read the whole LU through the cache: every other page is evicted again and again.
    for (std::uint64_t off = 1u << 20; off < (16u << 20); off += 1u << 20) read(off, 1u << 20);
    EXPECT_GT(cache_->stats().evictions, 200u);
    EXPECT_EQ(std::memcmp(lent.data, data.data() + 512, 1024), 0);
    auto again = cache_->lend(0, 4096, *io_);
    EXPECT_EQ(again.data, lent.data - 512);  // still the same frame: it was never let go
    EXPECT_EQ(cache_->stats().lent, 2u);
}

TEST_F(CachedStoreTest, AReadOfSeveralPagesIsLentAsPiecesPinnedTogether) {
    make(16u << 20, options(WriteMode::writethrough, 1u << 20));
    auto data = pattern(16384, 10);
    ASSERT_FALSE(write(65536, data));  // four whole pages, cached as written
    auto lent = cache_->lend(65536 + 512, 16384 - 1024, *io_);
    ASSERT_TRUE(lent.lent());
    EXPECT_EQ(lent.data, nullptr);
    ASSERT_EQ(lent.pieces.size(), 4u);
    EXPECT_EQ(lent.pieces.front().size(), 4096u - 512u);
    EXPECT_EQ(lent.pieces.back().size(), 4096u - 512u);
    for (std::uint64_t off = 1u << 20; off < (16u << 20); off += 1u << 20) read(off, 1u << 20);
    EXPECT_GT(cache_->stats().evictions, 200u);
    std::vector<std::byte> joined;
    for (auto piece : lent.pieces) joined.insert(joined.end(), piece.begin(), piece.end());
    EXPECT_TRUE(std::equal(joined.begin(), joined.end(), data.begin() + 512));
    lent.hold.reset();  // unpinned: they may go now
    for (std::uint64_t off = 1u << 20; off < (16u << 20); off += 1u << 20) read(off, 1u << 20);
    // A range with a page that is not resident is not lent (the command reads it instead).
    EXPECT_FALSE(cache_->lend(65536, 16384, *io_).lent());
    EXPECT_EQ(cache_->stats().lent, 1u);
}

TEST_F(CachedStoreTest, AScanOfFourTimesTheCacheLeavesTheHotSet) {
    make(64u << 20, options(WriteMode::writethrough, 4u << 20));  // 1024 pages
    constexpr std::uint64_t kHot = 1u << 20;                      // 256 pages, read as 4 KiB
    std::mt19937 rng(1);
    auto hot_pass = [&] {
        for (int i = 0; i < 512; ++i) read((rng() % (kHot / 4096)) * 4096, 4096);
    };
    for (int round = 0; round < 4; ++round) hot_pass();
    for (std::uint64_t off = 8u << 20; off < (8u << 20) + (16u << 20); off += 128u << 10) read(off, 128u << 10);
    const auto before = cache_->stats();
    hot_pass();
    const auto after = cache_->stats();
    const double hits = static_cast<double>(after.hits - before.hits);
    const double lookups = hits + static_cast<double>(after.misses - before.misses);
    EXPECT_GE(hits / lookups, 0.9) << format_stats(after);
}

TEST_F(CachedStoreTest, ReadAheadRunsAheadOfASequentialReaderOnly) {
    make(64u << 20, options(WriteMode::writethrough, 16u << 20, true));
    for (std::uint64_t off = 0; off < (8u << 20); off += 128u << 10) read(off, 128u << 10);
    auto s = cache_->stats();
    EXPECT_GT(s.read_ahead.issued_bytes, 4u << 20);
    EXPECT_GT(s.read_ahead.used_bytes, 4u << 20);
    EXPECT_GT(s.hits, s.misses) << format_stats(s);  // most of the stream was there before it was asked for
    // Random reads start no read-ahead.
    const auto issued = s.read_ahead.issued_bytes;
    std::mt19937 rng(2);
    for (int i = 0; i < 200; ++i) read((16u << 20) + (rng() % 8192) * 4096, 4096);
    EXPECT_EQ(cache_->stats().read_ahead.issued_bytes, issued);
}

// Read-ahead, and misses that do not fall on the command's buffer whole, read straight into the
// pages' frames (one readv per run of pages): what they serve is the medium's bytes.
TEST_F(CachedStoreTest, LoadsIntoFramesServeTheMediumsBytes) {
    make(16u << 20, options(WriteMode::writethrough, 1u << 20, true));
    const auto data = pattern(8u << 20, 11);
    ASSERT_FALSE(write(0, data));  // the cache keeps the last MiB of it at most
    const int before = store_->scattered_reads.load();
    for (std::uint64_t off = 512; off + (128u << 10) < (8u << 20); off += 128u << 10) {
        auto got = read(off, 128u << 10);  // not page aligned: never read into the buffer whole
        ASSERT_TRUE(std::equal(got.begin(), got.end(), data.begin() + static_cast<std::ptrdiff_t>(off))) << off;
    }
    EXPECT_GT(store_->scattered_reads.load(), before);
    EXPECT_GT(cache_->stats().read_ahead.used_bytes, 0u) << format_stats(cache_->stats());
}

// Read-ahead on a thread of its own (the daemon's way): two sequential readers on two threads,
// unaligned so loads go into frames and commands wait for loads in flight, read the medium's
// bytes; the cache is destroyed with read-ahead still queued or in flight (under ASan and TSan
// this shows the destructor waits for it).
TEST_F(CachedStoreTest, ReadAheadOnItsOwnThreadServesTheMediumsBytes) {
    auto o = options(WriteMode::writethrough, 8u << 20, true);
    o.read_ahead_thread = true;
    make(16u << 20, o);
    const auto data = pattern(16u << 20, 5);
    ASSERT_FALSE(write(0, data));
    std::atomic<int> failures{0};
    auto reader = [&](std::uint64_t base) {
        auto io = make_sync_io_engine();
        ByteBuffer buffer;
        buffer.resize_for_overwrite(64u << 10);
        for (std::uint64_t off = base + 512; off + buffer.size() <= base + (8u << 20); off += buffer.size()) {
            Waiter w;
            cache_->read(off, ByteSpan(buffer.data(), buffer.size()), *io, w.callback());
            if (w.wait() || std::memcmp(buffer.data(), data.data() + off, buffer.size()) != 0) ++failures;
        }
    };
    std::thread a(reader, 0), b(reader, 8u << 20);
    a.join();
    b.join();
    EXPECT_EQ(failures.load(), 0);
    const auto s = cache_->stats();
    EXPECT_GT(s.read_ahead.issued_bytes, 1u << 20) << format_stats(s);  // how much was used is timing's
    read(512, 64u << 10);  // a stream again: read-ahead queued as the cache goes
    read(512 + (64u << 10), 64u << 10);
    cache_.reset();
}

TEST_F(CachedStoreTest, WithoutReadAheadNothingIsReadAhead) {
    make(16u << 20, options(WriteMode::writethrough, 4u << 20, false));
    for (std::uint64_t off = 0; off < (4u << 20); off += 128u << 10) read(off, 128u << 10);
    EXPECT_EQ(cache_->stats().read_ahead.issued_bytes, 0u);
    EXPECT_EQ(store_->read_bytes.load(), 4u << 20);
}

TEST_F(CachedStoreTest, WritebackHoldsDirtyPagesAndFlushWritesThemCoalesced) {
    make(16u << 20, options(WriteMode::writeback, 4u << 20));
    std::vector<std::byte> expect(256u << 10);
    for (int i = 0; i < 64; ++i) {  // 64 neighbouring pages, one 4 KiB write each
        auto data = pattern(4096, static_cast<unsigned>(i));
        std::memcpy(expect.data() + i * 4096, data.data(), 4096);
        ASSERT_FALSE(write(1048576 + i * 4096, data));
    }
    EXPECT_EQ(store_->writes.load(), 0);  // nothing reached the medium yet
    EXPECT_EQ(cache_->stats().dirty, 64u);
    EXPECT_TRUE(read(1048576, expect.size()) == expect);
    ASSERT_FALSE(flush());
    EXPECT_EQ(store_->writes.load(), 1);  // one 256 KiB write
    EXPECT_EQ(store_->flushes.load(), 1);
    EXPECT_TRUE(store_->medium(1048576, expect.size()) == expect);
    const auto s = cache_->stats();
    EXPECT_EQ(s.dirty, 0u);
    EXPECT_EQ(s.flushes, 1u);
    EXPECT_EQ(s.flushed_bytes, 256u << 10);
}

TEST_F(CachedStoreTest, WritebackFuaIsOnTheMediumWhenItCompletes) {
    make(16u << 20, options(WriteMode::writeback, 4u << 20));
    auto earlier = pattern(8192, 1);
    auto data = pattern(4096 + 1024, 2);
    ASSERT_FALSE(write(0, earlier));
    ASSERT_FALSE(write(65536 + 512, data, true));
    EXPECT_TRUE(store_->medium(65536 + 512, data.size()) == data);
    EXPECT_TRUE(store_->medium(0, earlier.size()) == earlier);  // everything before it, too
    EXPECT_GE(store_->flushes.load(), 1);
}

TEST_F(CachedStoreTest, WritebackDestructionWritesEverythingBack) {
    make(16u << 20, options(WriteMode::writeback, 4u << 20));
    auto data = pattern(1u << 20, 5);
    ASSERT_FALSE(write(3u << 20, data));
    auto inner = store_;
    // Keep the inner store alive past the cache: read what the cache left on it before it goes.
    std::vector<std::byte> medium;
    {
        auto stats_before = cache_->stats();
        EXPECT_GT(stats_before.dirty, 0u);
        ASSERT_FALSE(cache_->sync());
        medium = inner->medium(3u << 20, data.size());
    }
    EXPECT_TRUE(medium == data);
}

TEST_F(CachedStoreTest, TheDirtyLimitHoldsWritersBackUntilPagesAreClean) {
    make(64u << 20, options(WriteMode::writeback, 4u << 20));  // 1024 pages, at most 512 dirty
    store_->write_delay_us = 500;                              // the flusher cannot keep up with writes into memory
    std::vector<std::byte> model(16u << 20);
    for (int i = 0; i < 2048; ++i) {
        auto data = pattern(4096, static_cast<unsigned>(i));
        const std::uint64_t offset = static_cast<std::uint64_t>(i) * 8192;  // never neighbours
        std::memcpy(model.data() + offset, data.data(), 4096);
        ASSERT_FALSE(write(offset, data));
        ASSERT_LE(cache_->stats().dirty, 512u + 1u);
    }
    const auto s = cache_->stats();
    EXPECT_GT(s.throttled, 0u);
    EXPECT_GT(s.flushes, 0u);
    ASSERT_FALSE(flush());
    EXPECT_TRUE(store_->medium(0, model.size()) == model);
}

TEST_F(CachedStoreTest, UnmappedBlocksReadAsZerosThroughTheCache) {
    for (auto mode : {WriteMode::writethrough, WriteMode::writeback}) {
        make(16u << 20, options(mode, 4u << 20));
        auto data = pattern(65536, 4);
        ASSERT_FALSE(write(0, data));
        EXPECT_TRUE(read(0, data.size()) == data);
        Waiter w;
        cache_->unmap(4096, 16384, *io_, w.callback());
        ASSERT_FALSE(w.wait());
        auto got = read(0, data.size());
        EXPECT_TRUE(std::equal(got.begin(), got.begin() + 4096, data.begin()));
        EXPECT_TRUE(
            std::all_of(got.begin() + 4096, got.begin() + 20480, [](std::byte b) { return b == std::byte{0}; }));
        EXPECT_TRUE(std::equal(got.begin() + 20480, got.end(), data.begin() + 20480));
        ASSERT_FALSE(flush());
        EXPECT_TRUE(store_->medium(0, data.size()) == got);
    }
}

// GET LBA STATUS on a thin file LUN with cache=writeback: blocks written into a hole and not yet
// written back read as data, so they are mapped; the hole around them stays deallocated.
TEST(CachedStoreProvisioning, DirtyPagesInAHoleAreMappedBeforeTheyAreWrittenBack) {
    const std::string path = ::testing::TempDir() + "cached_provisioning.img";
    std::remove(path.c_str());
    backstore::Options file;
    file.size = 4u << 20;
    file.thin = true;
    auto store = backstore::open_file(path, file);
    ASSERT_TRUE(store) << store.error().message;
    CachedStore cache(std::move(*store), options(WriteMode::writeback, 1u << 20));
    auto io = make_sync_io_engine();
    const auto data = pattern(8192, 3);
    Waiter w;
    cache.write(1u << 20, ConstByteSpan(data.data(), data.size()), false, *io, w.callback());
    ASSERT_FALSE(w.wait());

    auto hole = cache.provisioning(0, 4u << 20);  // deallocated up to the dirty pages, no further
    ASSERT_TRUE(hole);
    EXPECT_FALSE(hole->mapped);
    EXPECT_EQ(hole->length, 1u << 20);
    auto dirty = cache.provisioning(1u << 20, 4u << 20);
    ASSERT_TRUE(dirty);
    EXPECT_TRUE(dirty->mapped);
    EXPECT_EQ(dirty->length, 8192u);
    auto inside = cache.provisioning((1u << 20) + 4608, 512);  // a block inside the second page
    ASSERT_TRUE(inside);
    EXPECT_TRUE(inside->mapped);
    EXPECT_EQ(inside->length, 512u);
    auto after = cache.provisioning((1u << 20) + 8192, 4u << 20);
    ASSERT_TRUE(after);
    EXPECT_FALSE(after->mapped);

    Waiter flushed;
    cache.flush(*io, flushed.callback());
    ASSERT_FALSE(flushed.wait());
    auto written = cache.provisioning(1u << 20, 8192);  // now the store's own answer
    ASSERT_TRUE(written);
    EXPECT_TRUE(written->mapped);
    std::remove(path.c_str());
}

TEST_F(CachedStoreTest, AFailedWritethroughWriteLeavesNothingCachedTheMediumLacks) {
    make(16u << 20, options(WriteMode::writethrough, 4u << 20));
    auto old_data = pattern(8192, 1);
    ASSERT_FALSE(write(0, old_data));
    store_->fail_writes = true;
    EXPECT_EQ(write(0, pattern(8192, 2)), std::make_error_code(std::errc::io_error));
    store_->fail_writes = false;
    EXPECT_TRUE(read(0, 8192) == old_data);
}

TEST_F(CachedStoreTest, AFailedWriteBackFailsTheFlushAndKeepsThePagesDirty) {
    make(16u << 20, options(WriteMode::writeback, 4u << 20));
    auto data = pattern(8192, 1);
    ASSERT_FALSE(write(0, data));
    store_->fail_writes = true;
    EXPECT_EQ(flush(), std::make_error_code(std::errc::io_error));
    EXPECT_EQ(cache_->stats().dirty, 2u);
    store_->fail_writes = false;
    ASSERT_FALSE(flush());
    EXPECT_TRUE(store_->medium(0, 8192) == data);
}

// Two threads (two reactors) on one cache, each on its own quarter of the LU and both reading a
// shared read-only quarter: under TSan this shows the shards' locking is enough.
TEST_F(CachedStoreTest, ThreadsShareTheCache) {
    for (auto mode : {WriteMode::writethrough, WriteMode::writeback}) {
        make(16u << 20, options(mode, 2u << 20, true));
        auto shared = pattern(4u << 20, 11);
        ASSERT_FALSE(write(12u << 20, shared));
        std::atomic<int> failures{0};
        auto worker = [&](unsigned id) {
            auto io = make_sync_io_engine();
            std::mt19937 rng(id);
            std::vector<std::byte> model(4u << 20);
            const std::uint64_t base = std::uint64_t{id} * (4u << 20);
            for (int i = 0; i < 400; ++i) {
                const std::uint64_t blocks = 1 + rng() % 32;
                const std::uint64_t off = (rng() % ((4u << 20) / 512 - blocks)) * 512;
                const std::uint64_t shared_off = (rng() % ((4u << 20) / 512 - blocks)) * 512;
                ByteBuffer buffer;
                buffer.resize_for_overwrite(blocks * 512);
                Waiter w;
                if (i % 3 == 0) {
                    auto data = pattern(blocks * 512, id * 1000 + static_cast<unsigned>(i));
                    std::memcpy(model.data() + off, data.data(), data.size());
                    cache_->write(base + off, ConstByteSpan(data.data(), data.size()), false, *io, w.callback());
                    if (w.wait()) ++failures;
                } else if (i % 3 == 1) {
                    cache_->read(base + off, ByteSpan(buffer.data(), buffer.size()), *io, w.callback());
                    if (w.wait() || std::memcmp(buffer.data(), model.data() + off, buffer.size()) != 0) ++failures;
                } else {
                    cache_->read((12u << 20) + shared_off, ByteSpan(buffer.data(), buffer.size()), *io, w.callback());
                    if (w.wait() || std::memcmp(buffer.data(), shared.data() + shared_off, buffer.size()) != 0)
                        ++failures;
                }
            }
        };
        std::thread a(worker, 0), b(worker, 1);
        a.join();
        b.join();
        EXPECT_EQ(failures.load(), 0);
    }
}

}  // namespace
}  // namespace iscsikit::cache
