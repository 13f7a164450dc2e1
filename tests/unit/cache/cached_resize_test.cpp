// The block cache in front of a store that grows (Backstore::resize): it follows the store's
// size, and the page that held the old end, partly past it, shows zeros there afterwards, never
// the bytes of a page its frame held before; dirty bytes written past the old end are written back.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "backstore/backstore.hpp"
#include "cache/cached_store.hpp"
#include "waiter.hpp"
#include "core/byte_buffer.hpp"

namespace iscsikit::cache {
namespace {

using testing::Waiter;

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
// Ends 512 bytes into a page: the cache's last page is partly past the store. Eight MiB before
// it: enough runs of pages that every shard's frames have held some.
constexpr std::uint64_t kEnd = 8 * kMiB;
constexpr std::uint64_t kOldSize = kEnd + 512;

std::vector<std::byte> filled(std::size_t n, unsigned char value) {
    return std::vector<std::byte>(n, std::byte{value});
}

class CachedResizeTest : public ::testing::TestWithParam<WriteMode> {
protected:
    void SetUp() override {
        auto inner = backstore::make_ram(backstore::Options{.size = kOldSize});
        ASSERT_TRUE(inner) << inner.error().message;
        ram_ = inner->get();
        CacheOptions options;
        options.mode = GetParam();
        options.size_bytes = 256 * 1024;  // 64 frames, 4 a shard: frames are reused all the time
        options.read_ahead = false;
        options.flush_interval = std::chrono::hours(1);
        cache_ = std::make_unique<CachedStore>(std::move(*inner), options);
    }

    std::error_code write(std::uint64_t offset, const std::vector<std::byte>& data) {
        Waiter w;
        cache_->write(offset, ConstByteSpan(data.data(), data.size()), false, *io_, w.callback());
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
    // Every frame has held a page of 0xee bytes, so a frame's leftovers show.
    void dirty_every_frame() {
        ASSERT_FALSE(write(0, filled(kEnd, 0xee)));
        if (GetParam() == WriteMode::writeback) {
            ASSERT_FALSE(cache_->sync());
        }
        read(0, kEnd);
    }

    std::unique_ptr<IoEngine> io_ = make_sync_io_engine();
    backstore::Backstore* ram_ = nullptr;  // owned by cache_
    std::unique_ptr<CachedStore> cache_;
};

TEST_P(CachedResizeTest, FollowsTheStoresSizeAndTheOldLastPageReadsZerosPastTheOldEnd) {
    dirty_every_frame();
    ASSERT_FALSE(write(kEnd, filled(512, 0x5a)));
    EXPECT_EQ(read(kEnd, 512), filled(512, 0x5a));  // the last page resident, in a reused frame

    auto grown = cache_->resize(2 * kEnd);
    ASSERT_TRUE(grown) << grown.error().message;
    EXPECT_EQ(cache_->size_bytes(), 2 * kEnd);
    EXPECT_EQ(ram_->size_bytes(), 2 * kEnd);

    auto page = read(kEnd, 4096);
    EXPECT_EQ(std::vector<std::byte>(page.begin(), page.begin() + 512), filled(512, 0x5a));
    EXPECT_EQ(std::vector<std::byte>(page.begin() + 512, page.end()), filled(4096 - 512, 0))
        << "the frame's former bytes show past the old end";
    auto added = read(kEnd, kEnd);
    EXPECT_TRUE(std::all_of(added.begin() + 512, added.end(), [](std::byte b) { return b == std::byte{0}; }));
}

TEST_P(CachedResizeTest, WritesPastTheOldEndReachTheStore) {
    dirty_every_frame();
    ASSERT_FALSE(write(kEnd, filled(512, 0x11)));  // writeback: the old last page dirty
    ASSERT_TRUE(cache_->resize(2 * kEnd));
    ASSERT_FALSE(write(kEnd + 512, filled(1024, 0x22)));  // the same page, past the old end
    ASSERT_FALSE(write(2 * kEnd - 4096, filled(4096, 0x33)));
    ASSERT_FALSE(cache_->sync());

    const std::byte* medium = ram_->mapped(kEnd, kEnd);
    ASSERT_NE(medium, nullptr);
    EXPECT_TRUE(std::all_of(medium, medium + 512, [](std::byte b) { return b == std::byte{0x11}; }));
    EXPECT_TRUE(std::all_of(medium + 512, medium + 1536, [](std::byte b) { return b == std::byte{0x22}; }));
    EXPECT_TRUE(std::all_of(medium + 1536, medium + kEnd - 4096, [](std::byte b) { return b == std::byte{0}; }));
    EXPECT_TRUE(std::all_of(medium + kEnd - 4096, medium + kEnd, [](std::byte b) { return b == std::byte{0x33}; }));
    auto page = read(kEnd, 4096);
    EXPECT_EQ(std::vector<std::byte>(page.begin() + 1536, page.end()), filled(4096 - 1536, 0));
}

TEST_P(CachedResizeTest, ShrinkIsRefusedByTheStoreBehind) {
    auto shrunk = cache_->resize(kEnd);
    ASSERT_FALSE(shrunk);
    EXPECT_NE(shrunk.error().message.find("shrinking would discard data"), std::string::npos) << shrunk.error().message;
    EXPECT_EQ(cache_->size_bytes(), kOldSize);
}

INSTANTIATE_TEST_SUITE_P(Modes, CachedResizeTest, ::testing::Values(WriteMode::writethrough, WriteMode::writeback),
                         [](const auto& info) {
                             return info.param == WriteMode::writeback ? "writeback" : "writethrough";
                         });

}  // namespace
}  // namespace iscsikit::cache
