// Unmap and provisioning queries of the stores (src/backstore): holes punched in files (through
// both IoEngines), pages given back by the RAM store, and the defaults of the interface.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "backstore/backstore.hpp"
#include "io_wait.hpp"

namespace iscsikit::backstore {
namespace {

namespace fs = std::filesystem;

using test::wait_for;

std::optional<std::error_code> do_write(Backstore& b, IoEngine& io, std::uint64_t offset, std::size_t length,
                                        std::byte value) {
    std::vector<std::byte> data(length, value);
    std::optional<std::error_code> result;
    b.write(offset, data, false, io, [&](std::error_code ec) { result = ec; });
    return wait_for(io, result);
}

std::vector<std::byte> do_read(Backstore& b, IoEngine& io, std::uint64_t offset, std::size_t length) {
    std::vector<std::byte> data(length, std::byte{0x77});
    std::optional<std::error_code> result;
    b.read(offset, data, io, [&](std::error_code ec) { result = ec; });
    EXPECT_EQ(wait_for(io, result), std::error_code{});
    return data;
}

std::optional<std::error_code> do_unmap(Backstore& b, IoEngine& io, std::uint64_t offset, std::uint64_t length) {
    std::optional<std::error_code> result;
    b.unmap(offset, length, io, [&](std::error_code ec) { result = ec; });
    return wait_for(io, result);
}

// Provisioning as (mapped, length) pairs, for compact expectations.
std::pair<bool, std::uint64_t> status(const Backstore& b, std::uint64_t offset, std::uint64_t max_length = ~0ull) {
    auto p = b.provisioning(offset, max_length);
    EXPECT_TRUE(p.has_value()) << p.error().message();
    return p ? std::pair{p->mapped, p->length} : std::pair{false, std::uint64_t{0}};
}

class ThinFileTest : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "thin_backstore_XXXXXX";
        std::vector<char> buf(pattern.begin(), pattern.end());
        buf.push_back('\0');
        ASSERT_NE(::mkdtemp(buf.data()), nullptr);
        dir_ = buf.data();
        io_ = GetParam() ? make_io_engine(16) : make_sync_io_engine();
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::unique_ptr<Backstore> open(std::uint32_t block_size, std::uint64_t size, bool read_only = false) {
        auto store = open_file((dir_ / "lun.img").string(),
                               Options{.block_size = block_size, .read_only = read_only, .thin = true, .size = size});
        EXPECT_TRUE(store) << store.error().message;
        return store ? std::move(*store) : nullptr;
    }
    std::uint64_t allocated_bytes() const {
        struct stat st {};
        EXPECT_EQ(::stat((dir_ / "lun.img").c_str(), &st), 0);
        return static_cast<std::uint64_t>(st.st_blocks) * 512;
    }

    fs::path dir_;
    std::unique_ptr<IoEngine> io_;
};

TEST_P(ThinFileTest, UnmapPunchesAHoleThatReadsAsZeros) {
    auto store = open(4096, 1 << 20);
    ASSERT_TRUE(store);
    ASSERT_EQ(do_write(*store, *io_, 0, 64 << 10, std::byte{0xab}), std::error_code{});
    const std::uint64_t before = allocated_bytes();
    EXPECT_GE(before, 64u << 10);

    EXPECT_EQ(do_unmap(*store, *io_, 16 << 10, 32 << 10), std::error_code{});
    EXPECT_EQ(allocated_bytes(), before - (32 << 10));
    EXPECT_EQ(do_read(*store, *io_, 16 << 10, 32 << 10), std::vector<std::byte>(32 << 10));
    EXPECT_EQ(do_read(*store, *io_, 0, 16 << 10), std::vector<std::byte>(16 << 10, std::byte{0xab}));
    EXPECT_EQ(do_read(*store, *io_, 48 << 10, 16 << 10), std::vector<std::byte>(16 << 10, std::byte{0xab}));
    EXPECT_EQ(fs::file_size(dir_ / "lun.img"), 1u << 20);  // KEEP_SIZE

    EXPECT_EQ(status(*store, 0), (std::pair{true, std::uint64_t{16} << 10}));
    EXPECT_EQ(status(*store, 16 << 10), (std::pair{false, std::uint64_t{32} << 10}));
    EXPECT_EQ(status(*store, 20 << 10), (std::pair{false, std::uint64_t{28} << 10}));
    EXPECT_EQ(status(*store, 48 << 10), (std::pair{true, std::uint64_t{16} << 10}));
    EXPECT_EQ(status(*store, 64 << 10), (std::pair{false, (std::uint64_t{1} << 20) - (64 << 10)}));
}

TEST_P(ThinFileTest, UnmapChecksItsArguments) {
    auto store = open(512, 1 << 20);
    ASSERT_TRUE(store);
    EXPECT_EQ(do_unmap(*store, *io_, 0, 0), std::error_code{});
    EXPECT_EQ(do_unmap(*store, *io_, (1 << 20) - 512, 1024), std::errc::invalid_argument);
    EXPECT_EQ(do_unmap(*store, *io_, 100, 512), std::errc::invalid_argument);  // not whole blocks
    EXPECT_EQ(do_unmap(*store, *io_, ~std::uint64_t{0} - 511, 512), std::errc::invalid_argument);
}

TEST_P(ThinFileTest, ReadOnlyStoreRefusesUnmap) {
    { auto create = open(512, 1 << 16); }
    auto store = open(512, 0, true);
    ASSERT_TRUE(store);
    EXPECT_EQ(do_unmap(*store, *io_, 0, 512), std::errc::read_only_file_system);
}

INSTANTIATE_TEST_SUITE_P(Engines, ThinFileTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "uring" : "sync"; });

TEST(ThinFileProvisioning, PartlyWrittenFileSystemBlockIsMapped) {
    std::string pattern = ::testing::TempDir() + "thin_prov_XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    ASSERT_NE(::mkdtemp(buf.data()), nullptr);
    const fs::path dir = buf.data();
    auto store = open_file((dir / "lun.img").string(), Options{.block_size = 512, .thin = true, .size = 1 << 20});
    ASSERT_TRUE(store) << store.error().message;
    auto io = make_sync_io_engine();
    Backstore& b = **store;

    EXPECT_EQ(status(b, 0), (std::pair{false, std::uint64_t{1} << 20}));        // a new sparse file
    EXPECT_EQ(status(b, 4096, 8192), (std::pair{false, std::uint64_t{8192}}));  // bounded by max_length
    EXPECT_EQ(status(b, 4096, 100), (std::pair{false, std::uint64_t{512}}));    // but at least one block

    // One 512-byte block written in the middle of a file-system block: that whole file-system
    // block is data, so each of its logical blocks reports mapped.
    ASSERT_EQ(do_write(b, *io, 8192 + 1024, 512, std::byte{1}), std::error_code{});
    const auto [mapped, length] = status(b, 8192);
    EXPECT_TRUE(mapped);
    EXPECT_GE(length, 1536u);
    EXPECT_EQ(length % 512, 0u);
    EXPECT_EQ(status(b, 0).first, false);
    EXPECT_EQ(status(b, 0).second, 8192u);

    // Unmapping the one block zeroes it; the file system may keep the block allocated.
    EXPECT_EQ(do_unmap(b, *io, 8192 + 1024, 512), std::error_code{});
    EXPECT_EQ(do_read(b, *io, 8192, 4096), std::vector<std::byte>(4096));

    // Out of range or unaligned offsets.
    EXPECT_FALSE(b.provisioning(1 << 20, 512).has_value());
    EXPECT_EQ(b.provisioning(100, 512).error(), std::errc::invalid_argument);
    fs::remove_all(dir);
}

TEST(RamProvisioning, UnmapZeroesAndEverythingStaysMapped) {
    auto store = make_ram(Options{.size = 1 << 20});
    ASSERT_TRUE(store);
    auto io = make_sync_io_engine();
    Backstore& b = **store;
    ASSERT_EQ(do_write(b, *io, 0, 1 << 20, std::byte{0x5a}), std::error_code{});
    // Partial pages at both ends, whole pages between.
    EXPECT_EQ(do_unmap(b, *io, 1024, 3 * 4096 + 512), std::error_code{});
    const auto back = do_read(b, *io, 0, 5 * 4096);
    for (std::size_t i = 0; i < back.size(); ++i) {
        const bool gone = i >= 1024 && i < 1024 + 3 * 4096 + 512;
        ASSERT_EQ(back[i], gone ? std::byte{0} : std::byte{0x5a}) << "byte " << i;
    }
    EXPECT_EQ(do_unmap(b, *io, 512, 512), std::error_code{});  // inside one page
    EXPECT_EQ(do_read(b, *io, 0, 1024), [] {
        std::vector<std::byte> v(1024, std::byte{0x5a});
        std::fill(v.begin() + 512, v.end(), std::byte{0});
        return v;
    }());
    EXPECT_EQ(do_unmap(b, *io, (1 << 20) - 512, 1024), std::errc::invalid_argument);
    EXPECT_EQ(status(b, 1024), (std::pair{true, (std::uint64_t{1} << 20) - 1024}));

    auto ro = make_ram(Options{.read_only = true, .size = 8192});
    ASSERT_TRUE(ro);
    EXPECT_EQ(do_unmap(**ro, *io, 0, 512), std::errc::read_only_file_system);
}

TEST(DefaultProvisioning, NoUnmapAndEverythingMapped) {
    struct Plain final : Backstore {
        std::string describe() const override { return "plain"; }
        std::uint64_t size_bytes() const override { return 8192; }
        std::uint32_t block_size() const override { return 512; }
        bool read_only() const override { return false; }
        void read(std::uint64_t, ByteSpan, IoEngine&, IoCallback done) override {
            done(std::make_error_code(std::errc::io_error));
        }
        void write(std::uint64_t, ConstByteSpan, bool, IoEngine&, IoCallback done) override {
            done(std::make_error_code(std::errc::io_error));
        }
        void flush(IoEngine&, IoCallback done) override { done(std::error_code{}); }
    } plain;
    auto io = make_sync_io_engine();
    EXPECT_EQ(do_unmap(plain, *io, 0, 512), std::errc::operation_not_supported);
    EXPECT_EQ(status(plain, 512), (std::pair{true, std::uint64_t{7680}}));
    EXPECT_EQ(status(plain, 512, 1000), (std::pair{true, std::uint64_t{512}}));
    EXPECT_EQ(status(plain, 512, 0), (std::pair{true, std::uint64_t{512}}));
    EXPECT_EQ(plain.provisioning(8192, 512).error(), std::errc::invalid_argument);
    EXPECT_EQ(plain.provisioning(256, 512).error(), std::errc::invalid_argument);
}

}  // namespace
}  // namespace iscsikit::backstore
