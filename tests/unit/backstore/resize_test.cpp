// Backstore::resize: a store grows while it is served. What was there stays, the added range reads
// as zeros and takes writes, nothing shrinks, read-only stores and sizes that are not whole blocks
// are refused, and a thread reading the size meanwhile only ever sees it grow, with every block
// below it usable. (A block device's case needs a device to grow, hence root: not tested here.)
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backstore/backstore.hpp"
#include "core/byte_buffer.hpp"
#include "io_wait.hpp"

namespace iscsikit::backstore {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

std::vector<std::byte> pattern_bytes(std::size_t n, unsigned seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<unsigned char>((i * 7 + seed) | 1));
    return v;
}

std::error_code write_at(Backstore& store, IoEngine& io, std::uint64_t offset, const std::vector<std::byte>& data) {
    std::optional<std::error_code> result;
    store.write(offset, ConstByteSpan(data.data(), data.size()), false, io, [&](std::error_code ec) { result = ec; });
    return test::wait_for(io, result).value_or(std::make_error_code(std::errc::timed_out));
}

// The bytes, or nothing when the read failed.
std::optional<std::vector<std::byte>> read_at(Backstore& store, IoEngine& io, std::uint64_t offset, std::size_t n) {
    std::vector<std::byte> data(n);
    std::optional<std::error_code> result;
    store.read(offset, ByteSpan(data.data(), n), io, [&](std::error_code ec) { result = ec; });
    if (test::wait_for(io, result).value_or(std::make_error_code(std::errc::timed_out))) return std::nullopt;
    return data;
}

bool all_zero(const std::vector<std::byte>& v) {
    return std::all_of(v.begin(), v.end(), [](std::byte b) { return b == std::byte{0}; });
}

// Pages of this process resident in RAM, from /proc/self/statm.
std::uint64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Every store grows the same way: each test runs against RAM and against a file.
class ResizeTest : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "resize_XXXXXX";
        std::vector<char> buf(pattern.begin(), pattern.end());
        buf.push_back('\0');
        ASSERT_NE(::mkdtemp(buf.data()), nullptr);
        dir_ = buf.data();
    }
    void TearDown() override { fs::remove_all(dir_); }

    bool is_file() const { return GetParam(); }
    std::string path() const { return (dir_ / "lun.img").string(); }

    std::unique_ptr<Backstore> make(std::uint64_t size, std::uint32_t block_size = 512, bool read_only = false) {
        Options options{.block_size = block_size, .read_only = read_only, .size = size};
        if (!is_file()) {
            auto store = make_ram(options);
            EXPECT_TRUE(store) << store.error().message;
            return store ? std::move(*store) : nullptr;
        }
        if (read_only) {  // a read-only LUN is not created: make the file first
            std::ofstream(path()).close();
            fs::resize_file(path(), size);
        }
        auto store = open_file(path(), options);
        EXPECT_TRUE(store) << store.error().message;
        return store ? std::move(*store) : nullptr;
    }

    fs::path dir_;
    std::unique_ptr<IoEngine> io_ = make_sync_io_engine();
};

TEST_P(ResizeTest, GrowKeepsTheDataAndTheAddedRangeReadsZerosAndTakesWrites) {
    auto store = make(kMiB);
    ASSERT_TRUE(store);
    const auto first = pattern_bytes(4096, 1), last = pattern_bytes(4096, 2);
    ASSERT_FALSE(write_at(*store, *io_, 0, first));
    ASSERT_FALSE(write_at(*store, *io_, kMiB - 4096, last));

    auto grown = store->resize(3 * kMiB);
    ASSERT_TRUE(grown) << grown.error().message;
    EXPECT_EQ(store->size_bytes(), 3 * kMiB);
    EXPECT_EQ(read_at(*store, *io_, 0, 4096), first);
    EXPECT_EQ(read_at(*store, *io_, kMiB - 4096, 4096), last);
    auto added = read_at(*store, *io_, kMiB, 2 * kMiB);
    ASSERT_TRUE(added);
    EXPECT_TRUE(all_zero(*added));

    const auto end = pattern_bytes(4096, 3);
    ASSERT_FALSE(write_at(*store, *io_, 3 * kMiB - 4096, end));
    EXPECT_EQ(read_at(*store, *io_, 3 * kMiB - 4096, 4096), end);
    EXPECT_FALSE(read_at(*store, *io_, 3 * kMiB, 512)) << "past the new end";
    if (!is_file()) {
        EXPECT_EQ(store->describe(), "ram:3145728");
    }
}

TEST_P(ResizeTest, GrowByLessThanAPageFromAnEndInsideAPage) {
    auto store = make(kMiB + 512);
    ASSERT_TRUE(store);
    const auto tail = pattern_bytes(512, 4);
    ASSERT_FALSE(write_at(*store, *io_, kMiB, tail));
    ASSERT_TRUE(store->resize(kMiB + 1536));
    EXPECT_EQ(read_at(*store, *io_, kMiB, 512), tail);
    auto added = read_at(*store, *io_, kMiB + 512, 1024);
    ASSERT_TRUE(added);
    EXPECT_TRUE(all_zero(*added));
    ASSERT_TRUE(store->resize(kMiB + 8192 + 512));  // across the next page
    const auto beyond = pattern_bytes(8192, 5);
    ASSERT_FALSE(write_at(*store, *io_, kMiB + 512, beyond));
    EXPECT_EQ(read_at(*store, *io_, kMiB + 512, 8192), beyond);
}

TEST_P(ResizeTest, ShrinkIsRefusedAndTheDataStays) {
    auto store = make(2 * kMiB);
    ASSERT_TRUE(store);
    const auto data = pattern_bytes(4096, 6);
    ASSERT_FALSE(write_at(*store, *io_, 2 * kMiB - 4096, data));
    auto shrunk = store->resize(kMiB);
    ASSERT_FALSE(shrunk);
    EXPECT_EQ(shrunk.error().code, std::errc::invalid_argument);
    EXPECT_NE(shrunk.error().message.find("cannot shrink from 2M to 1M: shrinking would discard data"),
              std::string::npos)
        << shrunk.error().message;
    EXPECT_NE(shrunk.error().message.find(is_file() ? "file:" : "ram:"), std::string::npos) << shrunk.error().message;
    EXPECT_EQ(store->size_bytes(), 2 * kMiB);
    EXPECT_EQ(read_at(*store, *io_, 2 * kMiB - 4096, 4096), data);
    if (is_file()) {
        EXPECT_EQ(fs::file_size(path()), 2 * kMiB);
    }
}

TEST_P(ResizeTest, SizeNotInWholeBlocksOrZeroIsRefused) {
    auto store = make(kMiB, 4096);
    ASSERT_TRUE(store);
    for (const std::uint64_t size : {std::uint64_t{0}, 2 * kMiB + 512, 2 * kMiB + 1}) {
        auto resized = store->resize(size);
        ASSERT_FALSE(resized) << size;
        EXPECT_EQ(resized.error().code, std::errc::invalid_argument) << size;
        EXPECT_NE(resized.error().message.find("whole number of 4096-byte blocks"), std::string::npos)
            << resized.error().message;
    }
    EXPECT_EQ(store->size_bytes(), kMiB);
}

TEST_P(ResizeTest, SameSizeSucceedsAndChangesNothing) {
    auto store = make(kMiB);
    ASSERT_TRUE(store);
    auto same = store->resize(kMiB);
    EXPECT_TRUE(same) << same.error().message;
    EXPECT_EQ(store->size_bytes(), kMiB);
}

TEST_P(ResizeTest, ReadOnlyStoreIsNotGrown) {
    auto store = make(kMiB, 512, true);
    ASSERT_TRUE(store);
    auto grown = store->resize(2 * kMiB);
    ASSERT_FALSE(grown);
    EXPECT_EQ(grown.error().code, std::errc::read_only_file_system);
    EXPECT_NE(grown.error().message.find("read-only"), std::string::npos) << grown.error().message;
    EXPECT_EQ(store->size_bytes(), kMiB);
    if (is_file()) {
        EXPECT_EQ(fs::file_size(path()), kMiB);
    }
}

// A transfer may hold a pointer from mapped() while the store grows: it must stay valid.
TEST_P(ResizeTest, MappedBytesDoNotMoveWhenTheStoreGrows) {
    auto store = make(kMiB);
    ASSERT_TRUE(store);
    const auto data = pattern_bytes(kMiB, 7);
    ASSERT_FALSE(write_at(*store, *io_, 0, data));
    const std::byte* before = store->mapped(0, kMiB);  // a file: when its pages are in the page cache
    ASSERT_TRUE(store->resize(4 * kMiB));
    if (before) {
        EXPECT_EQ(std::memcmp(before, data.data(), data.size()), 0);
        EXPECT_EQ(store->mapped(0, kMiB), before);
        // The mapping grew in place: the added range is mapped after the old one.
        const auto added = pattern_bytes(kMiB, 8);
        ASSERT_FALSE(write_at(*store, *io_, 3 * kMiB, added));
        const std::byte* grown = store->mapped(3 * kMiB, kMiB);
        ASSERT_EQ(grown, before + 3 * kMiB);
        EXPECT_EQ(std::memcmp(grown, added.data(), added.size()), 0);
    }
    if (!is_file()) {
        ASSERT_NE(store->mapped(0, 4 * kMiB), nullptr) << "RAM maps all of the grown store";
        EXPECT_EQ(store->mapped(0, 4 * kMiB), before);
    }
    EXPECT_EQ(store->mapped(0, 4 * kMiB + 512), nullptr);
}

// TSan-friendly: the size is an atomic, and a block below the size a reader saw is readable.
TEST_P(ResizeTest, ConcurrentReaderSeesTheSizeOnlyGrowAndEveryBlockBelowItReadable) {
    auto store = make(kMiB);
    ASSERT_TRUE(store);
    std::atomic<bool> stop{false};
    std::atomic<int> shrank{0}, failed_reads{0}, reads{0};
    std::thread reader([&] {
        auto io = make_sync_io_engine();
        std::uint64_t seen = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            const std::uint64_t size = store->size_bytes();
            if (size < seen) shrank.fetch_add(1);
            seen = size;
            auto last = read_at(*store, *io, size - 4096, 4096);
            if (!last || !all_zero(*last)) failed_reads.fetch_add(1);
            reads.fetch_add(1);
        }
    });
    for (std::uint64_t size = 2 * kMiB; size <= 64 * kMiB; size += kMiB) {
        auto grown = store->resize(size);
        EXPECT_TRUE(grown) << grown.error().message;
        if (!grown) break;
        std::this_thread::yield();
    }
    const int after = reads.load();
    while (reads.load() < after + 10) std::this_thread::yield();  // the reader ran past the last resize
    stop = true;
    reader.join();
    EXPECT_EQ(shrank.load(), 0);
    EXPECT_EQ(failed_reads.load(), 0);
    EXPECT_EQ(store->size_bytes(), 64 * kMiB);
}

INSTANTIATE_TEST_SUITE_P(RamAndFile, ResizeTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "file" : "ram"; });

// ---- what only one kind of store does ----

TEST(RamResizeTest, GrowingBeyondTheReservedAddressSpaceIsRefusedWithTheReason) {
    auto store = make_ram(Options{.size = kMiB});
    ASSERT_TRUE(store) << store.error().message;
    auto grown = (*store)->resize(std::uint64_t{1} << 40);  // 1 TiB: past the 64 GiB a 1 MiB store reserves
    ASSERT_FALSE(grown);
    EXPECT_NE(grown.error().message.find("cannot grow to 1T"), std::string::npos) << grown.error().message;
    EXPECT_NE(grown.error().message.find("reserved"), std::string::npos) << grown.error().message;
    EXPECT_EQ((*store)->size_bytes(), kMiB);
    auto within = (*store)->resize(64 * kMiB);
    EXPECT_TRUE(within) << within.error().message;
}

// The reservation and the grown range cost memory only where blocks are written.
TEST(RamResizeTest, GrowingUsesNoMemoryUntilBlocksAreWritten) {
    const std::uint64_t before = resident_bytes();
    auto store = make_ram(Options{.size = 256 * kMiB});
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE((*store)->resize(kMiB << 10));
    EXPECT_LT(resident_bytes(), before + 32 * kMiB);
    auto io = make_sync_io_engine();
    ASSERT_FALSE(write_at(**store, *io, (kMiB << 10) - 4096, pattern_bytes(4096, 8)));
    EXPECT_LT(resident_bytes(), before + 32 * kMiB);
}

class FileResizeTest : public ResizeTest {};

TEST_P(FileResizeTest, TheFileGrowsSparseAndKeepsItsNewSizeWhenOpenedAgain) {
    auto store = make(kMiB);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->resize(64 * kMiB));
    EXPECT_EQ(fs::file_size(path()), 64 * kMiB);
    struct stat st {};
    ASSERT_EQ(::stat(path().c_str(), &st), 0);
    EXPECT_LT(static_cast<std::uint64_t>(st.st_blocks) * 512, 8 * kMiB) << "the added range is a hole, as a new file";
    const auto end = pattern_bytes(4096, 9);
    ASSERT_FALSE(write_at(*store, *io_, 64 * kMiB - 4096, end));
    store.reset();
    auto again = open_file(path(), Options{});
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ((*again)->size_bytes(), 64 * kMiB);
    EXPECT_EQ(read_at(**again, *io_, 64 * kMiB - 4096, 4096), end);
}

// A file whose length is not whole blocks: its tail is not the store's until the store grows over
// it, and growing never truncates it away.
TEST_P(FileResizeTest, BytesTheFileHadPastTheOldEndAreKept) {
    {
        std::ofstream(path()).close();
        fs::resize_file(path(), kMiB + 100);
        std::FILE* f = std::fopen(path().c_str(), "r+");
        ASSERT_NE(f, nullptr);
        std::fseek(f, static_cast<long>(kMiB), SEEK_SET);
        const auto tail = pattern_bytes(100, 10);
        std::fwrite(tail.data(), 1, tail.size(), f);
        std::fclose(f);
    }
    auto store = open_file(path(), Options{});
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_EQ((*store)->size_bytes(), kMiB);
    ASSERT_TRUE((*store)->resize(2 * kMiB));
    auto grown = read_at(**store, *io_, kMiB, 512);
    ASSERT_TRUE(grown);
    const auto tail = pattern_bytes(100, 10);
    EXPECT_TRUE(std::equal(tail.begin(), tail.end(), grown->begin()));
    EXPECT_TRUE(std::all_of(grown->begin() + 100, grown->end(), [](std::byte b) { return b == std::byte{0}; }));
}

INSTANTIATE_TEST_SUITE_P(File, FileResizeTest, ::testing::Values(true), [](const auto&) { return "file"; });

// A store that does not override resize: only "no change" succeeds.
TEST(DefaultResizeTest, AStoreThatCannotGrowSaysSo) {
    struct Fixed final : Backstore {
        std::string describe() const override { return "fixed:x"; }
        std::uint64_t size_bytes() const override { return kMiB; }
        std::uint32_t block_size() const override { return 512; }
        bool read_only() const override { return false; }
        void read(std::uint64_t, ByteSpan, IoEngine&, IoCallback done) override { done({}); }
        void write(std::uint64_t, ConstByteSpan, bool, IoEngine&, IoCallback done) override { done({}); }
        void flush(IoEngine&, IoCallback done) override { done({}); }
    } fixed;
    EXPECT_TRUE(fixed.resize(kMiB));
    auto grown = fixed.resize(2 * kMiB);
    ASSERT_FALSE(grown);
    EXPECT_EQ(grown.error().code, std::errc::operation_not_supported);
    EXPECT_EQ(grown.error().message, "fixed:x: this store cannot be resized");
}

}  // namespace
}  // namespace iscsikit::backstore
