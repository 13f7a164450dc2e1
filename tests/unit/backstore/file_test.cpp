#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "backstore/backstore.hpp"
#include "backstore/fd_backstore.hpp"
#include "core/byte_buffer.hpp"
#include "io_wait.hpp"
#include "skip_or_fail.hpp"

namespace iscsikit::backstore {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class FileBackstoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "file_backstore_XXXXXX";
        std::vector<char> buf(pattern.begin(), pattern.end());
        buf.push_back('\0');
        ASSERT_NE(::mkdtemp(buf.data()), nullptr);
        dir_ = buf.data();
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string path(const std::string& name) const { return (dir_ / name).string(); }

    static void make_file(const std::string& p, std::uint64_t size) {
        std::FILE* f = std::fopen(p.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fclose(f);
        fs::resize_file(p, size);
    }

    fs::path dir_;
};

std::vector<std::byte> pattern_bytes(std::size_t n, unsigned seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::byte(static_cast<unsigned char>((i * 13 + seed) & 0xff));
    return v;
}

using test::wait_for;

std::optional<std::error_code> do_read(Backstore& b, IoEngine& io, std::uint64_t offset, ByteSpan dst) {
    std::optional<std::error_code> result;
    b.read(offset, dst, io, [&](std::error_code ec) { result = ec; });
    return wait_for(io, result);
}

std::optional<std::error_code> do_write(Backstore& b, IoEngine& io, std::uint64_t offset, ConstByteSpan src, bool fua) {
    std::optional<std::error_code> result;
    b.write(offset, src, fua, io, [&](std::error_code ec) { result = ec; });
    return wait_for(io, result);
}

TEST_F(FileBackstoreTest, MissingFileIsCreatedSparseWithTheRequestedSize) {
    auto p = path("new.img");
    auto store = open_file(p, Options{.size = 64 << 20});
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ((*store)->size_bytes(), 64u << 20);
    EXPECT_EQ((*store)->block_size(), 512u);
    EXPECT_FALSE((*store)->read_only());
    EXPECT_EQ((*store)->describe(), "file:" + p);
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 64 << 20);
    EXPECT_LT(st.st_blocks * 512, 1 << 20);  // sparse: nothing allocated yet
}

TEST_F(FileBackstoreTest, MissingFileWithoutCreateIsAnErrorNamingPathAndErrno) {
    auto p = path("absent.img");
    auto store = open_file(p, Options{.create = false, .size = 1 << 20});
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find(p), std::string::npos) << store.error().message;
    EXPECT_NE(store.error().message.find("No such file or directory"), std::string::npos) << store.error().message;
    EXPECT_FALSE(fs::exists(p));
}

TEST_F(FileBackstoreTest, MissingFileWithoutSizeIsNotCreated) {
    auto store = open_file(path("nosize.img"), Options{});
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find("give a size"), std::string::npos) << store.error().message;
    EXPECT_FALSE(fs::exists(path("nosize.img")));
}

TEST_F(FileBackstoreTest, MissingFileIsNotCreatedForAReadOnlyLun) {
    auto store = open_file(path("ro.img"), Options{.read_only = true, .size = 1 << 20});
    ASSERT_FALSE(store);
    EXPECT_FALSE(fs::exists(path("ro.img")));
}

TEST_F(FileBackstoreTest, SizeThatIsNotAMultipleOfTheBlockSizeIsRefused) {
    auto store = open_file(path("odd.img"), Options{.block_size = 4096, .size = 4096 * 10 + 512});
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find("not a multiple of the block size 4096"), std::string::npos)
        << store.error().message;
    EXPECT_FALSE(fs::exists(path("odd.img")));
}

TEST_F(FileBackstoreTest, UnsupportedBlockSizeIsRefused) {
    auto store = open_file(path("bs.img"), Options{.block_size = 1024, .size = 1 << 20});
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find("block size 1024 is not supported"), std::string::npos);
}

TEST_F(FileBackstoreTest, ExistingFileSizeIsUsedAsIsRoundedDownToWholeBlocks) {
    auto p = path("existing.img");
    make_file(p, 10000);
    auto store = open_file(p, Options{.size = 1 << 20});  // configured size ignored for an existing file
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ((*store)->size_bytes(), 9728u);  // 19 blocks of 512
    EXPECT_EQ(fs::file_size(p), 10000u);       // and the file is left alone
}

TEST_F(FileBackstoreTest, ExistingFileSmallerThanOneBlockIsAnError) {
    auto p = path("tiny.img");
    make_file(p, 4000);
    auto store = open_file(p, Options{.block_size = 4096});
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find("smaller than one 4096-byte block"), std::string::npos)
        << store.error().message;
}

TEST_F(FileBackstoreTest, DirectoryIsNotARegularFile) {
    auto store = open_file(dir_.string(), Options{.read_only = true});
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find(dir_.string()), std::string::npos);
}

class FileBackstoreIoTest : public FileBackstoreTest, public ::testing::WithParamInterface<bool> {
protected:
    std::unique_ptr<IoEngine> engine() { return GetParam() ? make_io_engine(16) : make_sync_io_engine(); }
};

TEST_P(FileBackstoreIoTest, WrittenBlocksReadBackAndReachTheFile) {
    auto io = engine();
    auto p = path("data.img");
    auto store = open_file(p, Options{.block_size = 4096, .size = 1 << 20});
    ASSERT_TRUE(store) << store.error().message;
    auto data = pattern_bytes(3 * 4096, 1);
    EXPECT_EQ(do_write(**store, *io, 8192, data, false), std::error_code{});
    auto fua_data = pattern_bytes(4096, 2);
    EXPECT_EQ(do_write(**store, *io, (1 << 20) - 4096, fua_data, true), std::error_code{});  // last block, FUA

    std::vector<std::byte> back(3 * 4096);
    EXPECT_EQ(do_read(**store, *io, 8192, back), std::error_code{});
    EXPECT_EQ(back, data);

    std::optional<std::error_code> flushed;
    (*store)->flush(*io, [&](std::error_code ec) { flushed = ec; });
    EXPECT_EQ(wait_for(*io, flushed), std::error_code{});

    // The bytes are in the file at the same offsets.
    std::FILE* f = std::fopen(p.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    std::vector<std::byte> raw(4096);
    std::fseek(f, (1 << 20) - 4096, SEEK_SET);
    ASSERT_EQ(std::fread(raw.data(), 1, raw.size(), f), raw.size());
    std::fclose(f);
    EXPECT_EQ(raw, fua_data);
}

TEST_P(FileBackstoreIoTest, AccessBeyondTheEndIsEinval) {
    auto io = engine();
    auto store = open_file(path("small.img"), Options{.size = 8192});
    ASSERT_TRUE(store) << store.error().message;
    std::vector<std::byte> buf(1024);
    EXPECT_EQ(do_read(**store, *io, 7680, buf), std::errc::invalid_argument);
    EXPECT_EQ(do_write(**store, *io, 8192, buf, false), std::errc::invalid_argument);
    EXPECT_EQ(do_read(**store, *io, ~std::uint64_t{0} - 100, buf), std::errc::invalid_argument);  // no wrap-around
    std::vector<std::byte> more(512);
    std::vector<iovec> pieces{{buf.data(), buf.size()}, {more.data(), more.size()}};
    std::optional<std::error_code> scattered;
    (*store)->readv(7168, pieces, *io, [&](std::error_code ec) { scattered = ec; });  // ends 512 bytes past
    EXPECT_EQ(wait_for(*io, scattered), std::errc::invalid_argument);
}

TEST_P(FileBackstoreIoTest, ReadOnlyStoreRefusesWritesWithErofsButReads) {
    auto io = engine();
    auto p = path("ro.img");
    make_file(p, 1 << 16);
    auto store = open_file(p, Options{.read_only = true});
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_TRUE((*store)->read_only());
    std::vector<std::byte> buf(512);
    EXPECT_EQ(do_write(**store, *io, 0, buf, true), std::errc::read_only_file_system);
    EXPECT_EQ(do_read(**store, *io, 0, buf), std::error_code{});
    std::optional<std::error_code> flushed;
    (*store)->flush(*io, [&](std::error_code ec) { flushed = ec; });
    EXPECT_EQ(wait_for(*io, flushed), std::error_code{});
}

// cache=none: the store opens the file with O_DIRECT. Blocks written read back, none of them is
// left in the page cache (mincore on a mapping of the file), nothing is lent from memory, and a
// buffer BlockPool did not align is refused by the kernel (so O_DIRECT really is on).
TEST_P(FileBackstoreIoTest, DirectIoKeepsNoBlockInThePageCache) {
    auto io = engine();
    auto p = path("direct.img");
    auto store = open_file(p, Options{.block_size = 512, .size = 1 << 20, .direct = true});
    if (!store && store.error().message.find("direct I/O") != std::string::npos)
        ISCSIKIT_SKIP_OR_FAIL("O_DIRECT in " + ::testing::TempDir() + ": " + store.error().message);
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ((*store)->mapped(0, 4096), nullptr);

    ByteBuffer data;
    data.resize_for_overwrite(64 * 1024);
    const auto pattern = pattern_bytes(data.size(), 3);
    std::copy(pattern.begin(), pattern.end(), data.begin());
    EXPECT_EQ(do_write(**store, *io, 4096, ConstByteSpan(data.data(), data.size()), false), std::error_code{});
    ByteBuffer small;  // one 512-byte block: BlockPool aligns it to 512 bytes
    small.resize_for_overwrite(512);
    std::fill(small.begin(), small.end(), std::byte{0x5a});
    EXPECT_EQ(do_write(**store, *io, 512, ConstByteSpan(small.data(), small.size()), true), std::error_code{});

    ByteBuffer back;
    back.resize_for_overwrite(data.size());
    EXPECT_EQ(do_read(**store, *io, 4096, ByteSpan(back.data(), back.size())), std::error_code{});
    EXPECT_TRUE(std::equal(back.begin(), back.end(), data.begin()));
    // Scattered into aligned pieces (the block cache's frames), in one read.
    ByteBuffer first, second;
    first.resize_for_overwrite(4096);
    second.resize_for_overwrite(8192);
    std::vector<iovec> pieces{{first.data(), first.size()}, {second.data(), second.size()}};
    std::optional<std::error_code> scattered;
    (*store)->readv(8192, pieces, *io, [&](std::error_code ec) { scattered = ec; });
    EXPECT_EQ(wait_for(*io, scattered), std::error_code{});
    EXPECT_TRUE(std::equal(first.begin(), first.end(), data.begin() + 4096));
    EXPECT_TRUE(std::equal(second.begin(), second.end(), data.begin() + 8192));

    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    void* map = ::mmap(nullptr, 1 << 20, PROT_READ, MAP_SHARED, fd, 0);
    ASSERT_NE(map, MAP_FAILED);
    std::vector<unsigned char> resident((1 << 20) / 4096);
    ASSERT_EQ(::mincore(map, 1 << 20, resident.data()), 0);
    const auto cached = std::count_if(resident.begin(), resident.end(), [](unsigned char r) { return r & 1; });
    EXPECT_EQ(cached, 0) << "pages of a cache=none file are in the page cache";
    ::munmap(map, 1 << 20);
    ::close(fd);

    std::vector<std::byte> unaligned(4096 + 1);
    EXPECT_EQ(do_read(**store, *io, 0, ByteSpan(unaligned.data() + 1, 4096)), std::errc::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Engines, FileBackstoreIoTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "uring" : "sync"; });

// A file on tmpfs is a copy in memory: its I/O runs on the caller's thread, so the callback has
// run when read() and write() return, even through the io_uring engine, and the bytes are right.
TEST(InMemoryFileBackstore, TmpfsFileCompletesInlineThroughTheUringEngine) {
    char pattern[] = "/dev/shm/iscsikit-inmem-XXXXXX";
    const int probe = ::mkstemp(pattern);
    if (probe < 0) ISCSIKIT_SKIP_OR_FAIL("needs a writable tmpfs at /dev/shm");
    const std::string p = pattern;
    struct Remove {
        std::string path;
        ~Remove() { ::unlink(path.c_str()); }
    } remove{p};
    EXPECT_TRUE(is_in_memory(probe));
    ::close(probe);
    ::unlink(p.c_str());

    auto store = open_file(p, Options{.block_size = 4096, .size = 1 << 20});
    ASSERT_TRUE(store) << store.error().message;
    auto io = make_io_engine(16);
    auto data = pattern_bytes(2 * 4096, 5);
    std::optional<std::error_code> wrote;
    (*store)->write(4096, data, true, *io, [&](std::error_code ec) { wrote = ec; });
    EXPECT_EQ(wrote, std::error_code{});  // before any submit or reap
    std::vector<std::byte> back(2 * 4096);
    std::optional<std::error_code> read;
    (*store)->read(4096, back, *io, [&](std::error_code ec) { read = ec; });
    EXPECT_EQ(read, std::error_code{});
    EXPECT_EQ(back, data);
    std::optional<std::error_code> flushed;
    (*store)->flush(*io, [&](std::error_code ec) { flushed = ec; });
    EXPECT_EQ(flushed, std::error_code{});

    // Its bytes are also readable in place, and a later write shows there (one page cache).
    const std::byte* in_place = (*store)->mapped(4096, 2 * 4096);
    ASSERT_NE(in_place, nullptr);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), in_place));
    auto newer = pattern_bytes(4096, 6);
    (*store)->write(8192, newer, false, *io, [&](std::error_code ec) { wrote = ec; });
    EXPECT_TRUE(std::equal(newer.begin(), newer.end(), in_place + 4096));
    EXPECT_EQ((*store)->mapped((1 << 20) - 4096, 8192), nullptr);  // past the end
    // The same bytes lie in the file, for a transport that sends file pages (sendfile).
    const FileRange file = (*store)->mapped_file(4096, 2 * 4096);
    ASSERT_TRUE(file);
    EXPECT_EQ(file.offset, 4096u);
    std::vector<std::byte> through_fd(2 * 4096);
    ASSERT_EQ(::pread(file.fd, through_fd.data(), through_fd.size(), static_cast<off_t>(file.offset)),
              static_cast<ssize_t>(through_fd.size()));
    EXPECT_TRUE(std::equal(through_fd.begin(), through_fd.end(), in_place));
    EXPECT_FALSE((*store)->mapped_file((1 << 20) - 4096, 8192));
}

// A file on a disk is not in memory: touching a page of it could block on the disk. Short
// ranges are never read in place (asking the kernel costs what it saves); long ones only when
// every page is in the page cache. The build directory (the test's working directory) is on a disk.
TEST(OnDiskFileBackstore, IsReadInPlaceOnlyWhereThePageCacheHoldsALongRange) {
    const std::string p = (fs::current_path() / ("iscsikit-disk-" + std::to_string(::getpid()) + ".img")).string();
    struct Remove {
        std::string path;
        ~Remove() { ::unlink(path.c_str()); }
    } remove{p};
    auto store = open_file(p, Options{.size = 1 << 16});
    ASSERT_TRUE(store) << store.error().message;
    const int fd = ::open(p.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    const bool in_memory = is_in_memory(fd);
    ::close(fd);
    if (in_memory) ISCSIKIT_SKIP_OR_FAIL("the working directory is on tmpfs: run the tests from a disk");
    EXPECT_EQ((*store)->mapped(0, 512), nullptr);

    // Written through the store (buffered): the pages are in the page cache.
    constexpr std::size_t kLong = FdBackstore::kMinPageCacheMapped;
    auto io = make_sync_io_engine();
    const auto data = pattern_bytes(kLong, 7);
    std::optional<std::error_code> wrote;
    (*store)->write(0, data, false, *io, [&](std::error_code ec) { wrote = ec; });
    ASSERT_EQ(wrote, std::error_code{});
    const std::byte* in_place = (*store)->mapped(0, kLong);
    ASSERT_NE(in_place, nullptr) << "a long range in the page cache is not read in place";
    const FileRange file = (*store)->mapped_file(0, kLong);
    EXPECT_TRUE(file);
    EXPECT_EQ(file.offset, 0u);
    EXPECT_EQ((*store)->mapped(0, kLong - 512), nullptr) << "a short range is read through the engine";

    // Written back and dropped from the page cache: reading it in place could wait for the disk.
    const int evict = ::open(p.c_str(), O_RDONLY);
    ASSERT_GE(evict, 0);
    ASSERT_EQ(::fdatasync(evict), 0);
    ASSERT_EQ(::posix_fadvise(evict, 0, 0, POSIX_FADV_DONTNEED), 0);
    ::close(evict);
    EXPECT_EQ((*store)->mapped(0, kLong), nullptr) << "pages the page cache no longer holds are read in place";
    // (Only now is the mapping read in user space: pages mapped into the process would stay cached.)
    EXPECT_TRUE(std::equal(data.begin(), data.end(), in_place));
}

TEST_F(FileBackstoreTest, BlockDeviceOpenRefusesARegularFile) {
    auto p = path("plain.img");
    make_file(p, 1 << 20);
    auto store = open_block_device(p, Options{});
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find("not a block device"), std::string::npos) << store.error().message;
}

TEST_F(FileBackstoreTest, BlockDeviceMissingPathNamesPathAndErrno) {
    auto store = open_block_device("/dev/iscsikit-no-such-device", Options{});
    ASSERT_FALSE(store);
    EXPECT_EQ(store.error().message,
              "/dev/iscsikit-no-such-device: cannot open block device: No such file or directory");
}

// Attaches a loop device over a file when the test runs as root with losetup; skipped otherwise.
class LoopDevice {
public:
    LoopDevice(const std::string& file, unsigned sector_size) {
        if (::geteuid() != 0) return;
        std::string cmd =
            "losetup -f --show --sector-size " + std::to_string(sector_size) + " " + file + " 2>/dev/null";
        std::FILE* p = ::popen(cmd.c_str(), "r");
        if (!p) return;
        char line[256] = {};
        if (std::fgets(line, sizeof line, p)) device_ = line;
        if (::pclose(p) != 0) device_.clear();
        while (!device_.empty() && (device_.back() == '\n')) device_.pop_back();
    }
    ~LoopDevice() {
        if (!device_.empty()) std::system(("losetup -d " + device_).c_str());
    }
    const std::string& device() const { return device_; }

private:
    std::string device_;
};

TEST_F(FileBackstoreTest, BlockDeviceSizeAndLogicalBlockSizeComeFromTheKernel) {
    auto p = path("loop.img");
    make_file(p, 4 << 20);
    LoopDevice loop(p, 4096);
    if (loop.device().empty())
        ISCSIKIT_SKIP_OR_FAIL("needs root and losetup (package util-linux) to attach a loop device");

    auto too_small = open_block_device(loop.device(), Options{.block_size = 512});
    ASSERT_FALSE(too_small);
    EXPECT_NE(too_small.error().message.find("smaller than the device's logical block size 4096"), std::string::npos)
        << too_small.error().message;

    auto store = open_block_device(loop.device(), Options{.block_size = 4096});
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ((*store)->size_bytes(), 4u << 20);
    EXPECT_EQ((*store)->describe(), "blockdev:" + loop.device());
    auto io = make_io_engine(8);
    auto data = pattern_bytes(8192, 3);
    EXPECT_EQ(do_write(**store, *io, 4096, data, true), std::error_code{});
    std::vector<std::byte> back(8192);
    EXPECT_EQ(do_read(**store, *io, 4096, back), std::error_code{});
    EXPECT_EQ(back, data);
}

}  // namespace
}  // namespace iscsikit::backstore
