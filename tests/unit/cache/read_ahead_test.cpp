// cache::ReadAhead: a sequential stream is detected at its second read, its window grows while it
// holds, waste shrinks it and switches it off, random reads never trigger it, interleaved streams
// are told apart.
#include <gtest/gtest.h>

#include <random>

#include "cache/read_ahead.hpp"

namespace iscsikit::cache::testing {
namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t kEnd = std::uint64_t{1} << 30;

TEST(ReadAhead, TheSecondReadInARowStartsReadAheadAtTheEndOfTheReads) {
    ReadAhead ra;
    EXPECT_FALSE(ra.advise(0, 64 * KiB, kEnd));
    auto first = ra.advise(64 * KiB, 64 * KiB, kEnd);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->offset, 128 * KiB);
    EXPECT_EQ(first->length, 128 * KiB);  // min_window
}

TEST(ReadAhead, TheWindowDoublesWhileTheStreamHoldsUpToItsMaximum) {
    ReadAhead ra(ReadAheadOptions{128 * KiB, 1024 * KiB});
    std::uint64_t at = 0;
    std::vector<std::uint64_t> windows;
    for (int i = 0; i < 200; ++i) {
        if (auto r = ra.advise(at, 64 * KiB, kEnd)) windows.push_back(r->length);
        at += 64 * KiB;
    }
    ASSERT_GE(windows.size(), 5u);
    EXPECT_EQ(windows[0], 128 * KiB);
    EXPECT_EQ(windows[1], 256 * KiB);
    EXPECT_EQ(windows[2], 512 * KiB);
    EXPECT_EQ(windows[3], 1024 * KiB);
    EXPECT_EQ(windows.back(), 1024 * KiB);
}

TEST(ReadAhead, WhatWasReadAheadIsNotAskedForAgain) {
    ReadAhead ra;
    std::uint64_t at = 0, ahead_end = 0;
    for (int i = 0; i < 500; ++i) {
        if (auto r = ra.advise(at, 16 * KiB, kEnd)) {
            EXPECT_GE(r->offset, ahead_end) << "overlaps what was read ahead before";
            EXPECT_GE(r->offset, at + 16 * KiB) << "behind the reader";
            ahead_end = r->offset + r->length;
        }
        at += 16 * KiB;
    }
    EXPECT_GT(ahead_end, at);  // always ahead of the reader
}

TEST(ReadAhead, NothingIsReadPastTheEnd) {
    ReadAhead ra;
    const std::uint64_t end = 200 * KiB;
    EXPECT_FALSE(ra.advise(0, 64 * KiB, end));
    auto r = ra.advise(64 * KiB, 64 * KiB, end);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->offset + r->length, end);
    EXPECT_FALSE(ra.advise(128 * KiB, 64 * KiB, end));
}

TEST(ReadAhead, RandomReadsNeverTriggerIt) {
    ReadAhead ra;
    std::mt19937_64 rng(3);
    for (int i = 0; i < 10000; ++i) EXPECT_FALSE(ra.advise((rng() % (kEnd / 4096)) * 4096, 4096, kEnd));
    EXPECT_EQ(ra.stats().issued_bytes, 0u);
}

TEST(ReadAhead, InterleavedStreamsAreToldApart) {
    ReadAhead ra;
    std::uint64_t a = 0, b = 512 * 1024 * KiB;
    int issued_a = 0, issued_b = 0;
    for (int i = 0; i < 50; ++i) {
        if (auto r = ra.advise(a, 32 * KiB, kEnd)) {
            EXPECT_LT(r->offset, 512 * 1024 * KiB);
            ++issued_a;
        }
        if (auto r = ra.advise(b, 32 * KiB, kEnd)) {
            EXPECT_GE(r->offset, 512 * 1024 * KiB);
            ++issued_b;
        }
        a += 32 * KiB;
        b += 32 * KiB;
    }
    EXPECT_GT(issued_a, 2);
    EXPECT_GT(issued_b, 2);
}

TEST(ReadAhead, WasteShrinksTheWindowAndSwitchesItOffUntilTheStreamProvesItselfAgain) {
    ReadAhead ra(ReadAheadOptions{128 * KiB, 1024 * KiB});
    std::uint64_t at = 0;
    std::optional<ReadAhead::Range> last;
    for (int i = 0; i < 40; ++i) {
        if (auto r = ra.advise(at, 64 * KiB, kEnd)) last = r;
        at += 64 * KiB;
    }
    ASSERT_TRUE(last);
    // Everything read ahead is evicted unread, again and again: the window halves to nothing.
    for (int i = 0; i < 8; ++i) ra.wasted(last->offset, last->length);
    EXPECT_EQ(ra.stats().wasted_bytes, 8 * last->length);
    EXPECT_FALSE(ra.advise(at, 64 * KiB, kEnd)) << "read-ahead goes on after being wasted";
    at += 64 * KiB;
    // Two more reads in a row and it starts again, small.
    auto again = ra.advise(at, 64 * KiB, kEnd);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->length, 128 * KiB);
    EXPECT_EQ(again->offset, at + 64 * KiB);
}

TEST(ReadAhead, UsedBytesAreCounted) {
    ReadAhead ra;
    ra.used(4096);
    ra.used(8192);
    EXPECT_EQ(ra.stats().used_bytes, 12288u);
}

}  // namespace
}  // namespace iscsikit::cache::testing
