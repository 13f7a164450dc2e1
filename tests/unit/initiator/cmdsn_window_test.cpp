// The initiator's command window (RFC 7143 §4.2.2.1) with serial arithmetic across the wrap.
#include <gtest/gtest.h>

#include "initiator/cmdsn_window.hpp"

namespace iscsikit::initiator {
namespace {

TEST(CmdSnWindow, OpensUpToMaxCmdSnInclusive) {
    CmdSnWindow w;
    w.reset(10, 12);  // room for CmdSN 10, 11, 12
    EXPECT_EQ(w.room(), 3u);
    EXPECT_EQ(w.take(), 10u);
    EXPECT_EQ(w.take(), 11u);
    EXPECT_TRUE(w.open());
    EXPECT_EQ(w.take(), 12u);
    EXPECT_FALSE(w.open());
    EXPECT_EQ(w.room(), 0u);
    EXPECT_EQ(w.unacknowledged(), 3u);
}

TEST(CmdSnWindow, ImmediateCommandsDoNotConsume) {
    CmdSnWindow w;
    w.reset(5, 5);
    EXPECT_EQ(w.peek(), 5u);
    EXPECT_EQ(w.peek(), 5u);
    EXPECT_EQ(w.take(), 5u);
    EXPECT_EQ(w.peek(), 6u);  // the next immediate command carries the next CmdSN
}

TEST(CmdSnWindow, ZeroWindowWhenMaxIsExpMinusOne) {
    CmdSnWindow w;
    w.reset(7, 6);  // §4.2.2.1: MaxCmdSN = ExpCmdSN - 1 closes the window
    EXPECT_FALSE(w.open());
    EXPECT_TRUE(w.update(7, 9));
    EXPECT_TRUE(w.open());
    EXPECT_EQ(w.room(), 3u);
}

TEST(CmdSnWindow, IgnoresInvalidAndStaleUpdates) {
    CmdSnWindow w;
    w.reset(100, 110);
    for (int i = 0; i < 5; ++i) w.take();
    EXPECT_TRUE(w.update(103, 120));
    EXPECT_EQ(w.exp(), 103u);
    EXPECT_EQ(w.max(), 120u);
    // MaxCmdSN < ExpCmdSN - 1: ignored entirely.
    EXPECT_FALSE(w.update(104, 90));
    EXPECT_EQ(w.max(), 120u);
    // Older values (PDUs that crossed) never move the window back.
    EXPECT_TRUE(w.update(101, 115));
    EXPECT_EQ(w.exp(), 103u);
    EXPECT_EQ(w.max(), 120u);
    // An ExpCmdSN beyond anything sent acknowledges commands that do not exist.
    EXPECT_FALSE(w.update(200, 300));
    EXPECT_EQ(w.exp(), 103u);
}

TEST(CmdSnWindow, WorksAcrossTheSerialNumberWrap) {
    CmdSnWindow w;
    w.reset(0xfffffffeu, 1);  // CmdSN 0xfffffffe, 0xffffffff, 0, 1 fit
    EXPECT_EQ(w.room(), 4u);
    EXPECT_EQ(w.take(), 0xfffffffeu);
    EXPECT_EQ(w.take(), 0xffffffffu);
    EXPECT_EQ(w.take(), 0u);
    EXPECT_EQ(w.take(), 1u);
    EXPECT_FALSE(w.open());
    EXPECT_TRUE(w.update(1, 5));
    EXPECT_EQ(w.exp(), 1u);
    EXPECT_EQ(w.room(), 4u);
}

}  // namespace
}  // namespace iscsikit::initiator
