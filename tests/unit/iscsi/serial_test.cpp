// Serial number arithmetic (RFC 1982 with SERIAL_BITS = 32, as RFC 7143 §4.2.2.1 requires).
#include "iscsi/serial.hpp"

#include <gtest/gtest.h>

namespace iscsikit::iscsi {
namespace {

static_assert(serial_lt(1, 2));
static_assert(serial_lt(0xffffffffu, 0));  // wraps
static_assert(!serial_lt(0, 0xffffffffu));

TEST(Serial, OrdersNearbyNumbers) {
    EXPECT_TRUE(serial_lt(1, 2));
    EXPECT_FALSE(serial_lt(2, 1));
    EXPECT_FALSE(serial_lt(5, 5));
    EXPECT_TRUE(serial_gt(2, 1));
    EXPECT_TRUE(serial_le(5, 5));
    EXPECT_TRUE(serial_ge(5, 5));
}

TEST(Serial, WrapsAroundZero) {
    EXPECT_TRUE(serial_lt(0xffffffffu, 0));
    EXPECT_TRUE(serial_lt(0xfffffff0u, 0x10));
    EXPECT_TRUE(serial_gt(0x10, 0xfffffff0u));
    EXPECT_FALSE(serial_lt(0x10, 0xfffffff0u));
}

TEST(Serial, LargestForwardDistanceIsTwoToTheThirtyFirstMinusOne) {
    EXPECT_TRUE(serial_lt(0, 0x7fffffffu));
    EXPECT_FALSE(serial_lt(0, 0x80000001u));  // that far ahead is behind
    EXPECT_TRUE(serial_gt(0, 0x80000001u));
}

TEST(Serial, ExactlyHalfTheSpaceApartIsUndefinedAndAnsweredFalse) {
    EXPECT_FALSE(serial_lt(0, 0x80000000u));
    EXPECT_FALSE(serial_gt(0, 0x80000000u));
    EXPECT_FALSE(serial_lt(0x80000000u, 0));
    EXPECT_FALSE(serial_gt(0x80000000u, 0));
}

TEST(Serial, CmdSnWindowAcrossWrap) {
    // ExpCmdSN = 0xfffffffe, MaxCmdSN = 2.
    for (std::uint32_t s : {0xfffffffeu, 0xffffffffu, 0u, 1u, 2u})
        EXPECT_TRUE(serial_in_window(s, 0xfffffffeu, 2)) << s;
    EXPECT_FALSE(serial_in_window(3, 0xfffffffeu, 2));
    EXPECT_FALSE(serial_in_window(0xfffffffdu, 0xfffffffeu, 2));
}

TEST(Serial, EmptyWindowWhenMaxIsOneBelowExp) {
    // RFC 7143 §4.2.2.1: MaxCmdSN = ExpCmdSN - 1 means the window is closed.
    EXPECT_FALSE(serial_in_window(10, 10, 9));
    EXPECT_FALSE(serial_in_window(9, 10, 9));
}

}  // namespace
}  // namespace iscsikit::iscsi
