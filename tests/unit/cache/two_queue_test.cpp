// cache::TwoQueue, the block cache's replacement policy: scan resistance, promotion through the
// ghost queue, correlated references, pinned frames.
#include <gtest/gtest.h>

#include <set>

#include "cache/two_queue.hpp"

namespace iscsikit::cache::testing {
namespace {

const auto kAnyMayGo = [](TwoQueue::Key) { return true; };

// A reference as the cache makes it: a hit touches, a miss admits.
void reference(TwoQueue& q, TwoQueue::Key key) {
    if (q.contains(key))
        q.touch(key);
    else
        ASSERT_TRUE(q.admit(key, kAnyMayGo).admitted);
}

TEST(TwoQueue, NeverHoldsMoreThanItsFrames) {
    TwoQueue q(100);
    for (TwoQueue::Key k = 0; k < 1000; ++k) reference(q, k);
    EXPECT_EQ(q.resident(), 100u);
}

TEST(TwoQueue, AReferenceSoonAfterTheFirstCountsForNothing) {
    TwoQueue q(8);  // A1in's share: 2 frames, so "soon" is within 2 references
    ASSERT_TRUE(q.admit(1, kAnyMayGo).admitted);
    q.touch(1);  // correlated: still A1in
    EXPECT_EQ(q.queue_of(1), TwoQueue::Queue::a1in);
    reference(q, 2);
    reference(q, 3);
    q.touch(1);  // past the correlated period: hot
    EXPECT_EQ(q.queue_of(1), TwoQueue::Queue::am);
}

TEST(TwoQueue, AMissOnAPageA1outRemembersGoesToAm) {
    TwoQueue q(8);  // A1in keeps 2, A1out remembers 4
    ASSERT_TRUE(q.admit(1, kAnyMayGo).admitted);
    EXPECT_EQ(q.queue_of(1), TwoQueue::Queue::a1in);
    for (TwoQueue::Key k = 2; k <= 9; ++k) reference(q, k);  // 1 leaves A1in, A1out remembers it
    EXPECT_FALSE(q.contains(1));
    auto again = q.admit(1, kAnyMayGo);
    EXPECT_TRUE(again.hot);
    EXPECT_EQ(q.queue_of(1), TwoQueue::Queue::am);
}

TEST(TwoQueue, AHotSetSurvivesASequentialScanOfFourTimesTheCache) {
    constexpr std::size_t kFrames = 1000;
    TwoQueue q(kFrames);
    // The hot set: 500 pages, referenced in turn four times, while the cache fills.
    for (int round = 0; round < 4; ++round)
        for (TwoQueue::Key k = 0; k < 500; ++k) reference(q, k);
    for (TwoQueue::Key k = 0; k < 500; ++k) ASSERT_EQ(q.queue_of(k), TwoQueue::Queue::am) << k;
    // One pass over 4000 other pages.
    for (TwoQueue::Key k = 100000; k < 104000; ++k) reference(q, k);
    std::size_t still = 0;
    for (TwoQueue::Key k = 0; k < 500; ++k) still += q.contains(k) ? 1 : 0;
    EXPECT_EQ(still, 500u) << "the scan flushed part of the hot set";
}

TEST(TwoQueue, AHotSetOfTwoThirdsOfASmallCacheSurvivesAScan) {
    // LRU would keep only the scan's last 600 pages here; 2Q cycles them through A1in.
    TwoQueue q(600);
    for (int round = 0; round < 3; ++round)
        for (TwoQueue::Key k = 0; k < 400; ++k) reference(q, k);
    for (TwoQueue::Key k = 5000; k < 7400; ++k) reference(q, k);
    std::size_t still = 0;
    for (TwoQueue::Key k = 0; k < 400; ++k) still += q.contains(k) ? 1 : 0;
    EXPECT_EQ(still, 400u);
}

TEST(TwoQueue, PagesThatMayNotGoArePassedOver) {
    TwoQueue q(4);
    for (TwoQueue::Key k = 0; k < 4; ++k) reference(q, k);
    const std::set<TwoQueue::Key> pinned{0, 1, 2};
    auto admission = q.admit(10, [&](TwoQueue::Key k) { return !pinned.contains(k); });
    ASSERT_TRUE(admission.admitted);
    ASSERT_TRUE(admission.evicted.has_value());
    EXPECT_EQ(*admission.evicted, 3u);
    for (TwoQueue::Key k : pinned) EXPECT_TRUE(q.contains(k));
}

TEST(TwoQueue, WhenNothingMayGoNothingIsAdmitted) {
    TwoQueue q(2);
    reference(q, 1);
    reference(q, 2);
    auto admission = q.admit(3, [](TwoQueue::Key) { return false; });
    EXPECT_FALSE(admission.admitted);
    EXPECT_FALSE(q.contains(3));
    EXPECT_EQ(q.resident(), 2u);
}

TEST(TwoQueue, EraseForgetsAPageWithoutAGhost) {
    TwoQueue q(4);
    reference(q, 7);
    q.erase(7);
    EXPECT_FALSE(q.contains(7));
    EXPECT_FALSE(q.admit(7, kAnyMayGo).hot);  // no memory of it: a first miss again
}

}  // namespace
}  // namespace iscsikit::cache::testing
