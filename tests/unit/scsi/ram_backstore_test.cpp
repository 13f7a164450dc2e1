// The RAM backstore (src/backstore/ram.cpp).
#include <cerrno>

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
    int wrote = 0, read = 0, flushed = -1;
    (*store)->write(4096, data, true, io, [&](int res) { wrote = res; });
    EXPECT_EQ(wrote, 1024);
    (*store)->read(4096, back, io, [&](int res) { read = res; });
    EXPECT_EQ(read, 1024);
    EXPECT_EQ(back, data);
    (*store)->read(0, back, io, [&](int) {});
    EXPECT_EQ(back, std::vector<std::byte>(1024));  // never written: zeros
    (*store)->flush(io, [&](int res) { flushed = res; });
    EXPECT_EQ(flushed, 0);
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
    int res = 0;
    (*store)->read(8192, buf, io, [&](int r) { res = r; });
    EXPECT_EQ(res, -EINVAL);
    (*store)->write(0, buf, false, io, [&](int r) { res = r; });
    EXPECT_EQ(res, -EROFS);
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
