// The RAM backstore (src/backstore/ram.cpp).
#include <optional>
#include <system_error>

#include "scsi_test_support.hpp"

namespace iscsikit::backstore {
namespace {

using scsi::test::NullIoEngine;

TEST(RamBackstore, RoundTripCompletesInline) {
    Options o;
    o.size = 1 << 20;
    auto store = make_ram(o);
    ASSERT_TRUE(store.has_value());
    NullIoEngine io;
    std::vector<std::byte> data(1024, std::byte{0x42}), back(1024);
    std::optional<std::error_code> wrote, read, flushed;  // empty until the callback runs
    (*store)->write(4096, data, true, io, [&](std::error_code ec) { wrote = ec; });
    EXPECT_EQ(wrote, std::error_code{});
    (*store)->read(4096, back, io, [&](std::error_code ec) { read = ec; });
    EXPECT_EQ(read, std::error_code{});
    EXPECT_EQ(back, data);
    (*store)->read(0, back, io, [&](std::error_code) {});
    EXPECT_EQ(back, std::vector<std::byte>(1024));  // never written: zeros
    (*store)->flush(io, [&](std::error_code ec) { flushed = ec; });
    EXPECT_EQ(flushed, std::error_code{});
    EXPECT_EQ((*store)->describe(), "ram:1048576");
    EXPECT_EQ((*store)->size_bytes(), 1u << 20);
}

TEST(RamBackstore, OutOfRangeAndReadOnly) {
    Options o;
    o.size = 8192;
    o.block_size = 4096;
    o.read_only = true;
    auto store = make_ram(o);
    ASSERT_TRUE(store.has_value());
    NullIoEngine io;
    std::vector<std::byte> buf(4096);
    std::error_code res;
    (*store)->read(8192, buf, io, [&](std::error_code ec) { res = ec; });
    EXPECT_EQ(res, std::errc::invalid_argument);
    (*store)->write(0, buf, false, io, [&](std::error_code ec) { res = ec; });
    EXPECT_EQ(res, std::errc::read_only_file_system);
    EXPECT_TRUE((*store)->read_only());
    EXPECT_EQ((*store)->block_size(), 4096u);
}

TEST(RamBackstore, SizeMustBeWholeBlocks) {
    Options o;
    o.size = 1000;
    EXPECT_FALSE(make_ram(o).has_value());
    o.size = 0;
    EXPECT_FALSE(make_ram(o).has_value());
    o.size = 4096;
    o.block_size = 1024;
    EXPECT_FALSE(make_ram(o).has_value());
}

}  // namespace
}  // namespace iscsikit::backstore
