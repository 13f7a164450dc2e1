// cache::FlatIndex, the cache's open-addressing table: lookups, replacement, the bound, and erase
// keeping every other key findable (backward shift across wrapped probe runs).
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "cache/flat_index.hpp"

namespace iscsikit::cache::testing {
namespace {

TEST(FlatIndex, FindsWhatWasPutAndNothingElse) {
    FlatIndex index(100);
    for (std::uint64_t k = 0; k < 100; ++k) ASSERT_TRUE(index.put(k * 16 + 3, static_cast<std::uint32_t>(k)));
    EXPECT_EQ(index.size(), 100u);
    for (std::uint64_t k = 0; k < 100; ++k) {
        const auto* v = index.find(k * 16 + 3);
        ASSERT_NE(v, nullptr) << k;
        EXPECT_EQ(*v, k);
        EXPECT_FALSE(index.contains(k * 16 + 4));
    }
}

TEST(FlatIndex, PutReplacesAndRefusesPastItsBound) {
    FlatIndex index(3);
    EXPECT_TRUE(index.put(1, 10));
    EXPECT_TRUE(index.put(2, 20));
    EXPECT_TRUE(index.put(3, 30));
    EXPECT_FALSE(index.put(4, 40));  // full: a new key is refused
    EXPECT_TRUE(index.put(2, 21));   // an existing one is replaced
    EXPECT_EQ(*index.find(2), 21u);
    EXPECT_EQ(index.size(), 3u);
    EXPECT_TRUE(index.erase(1));
    EXPECT_FALSE(index.erase(1));
    EXPECT_TRUE(index.put(4, 40));
    EXPECT_EQ(*index.find(4), 40u);
}

// Random puts and erases against std::map, in a table kept nearly full so probe runs are long and
// wrap around the end of the array: every erase must leave every other key findable.
TEST(FlatIndex, AgreesWithAMapUnderChurn) {
    constexpr std::size_t kMax = 64;
    FlatIndex index(kMax);
    std::map<std::uint64_t, std::uint32_t> model;
    std::mt19937_64 rng(9);
    for (int step = 0; step < 200000; ++step) {
        const std::uint64_t key = rng() % 200;
        if (rng() % 2 && model.size() < kMax) {
            const auto value = static_cast<std::uint32_t>(rng());
            ASSERT_TRUE(index.put(key, value));
            model[key] = value;
        } else {
            ASSERT_EQ(index.erase(key), model.erase(key) == 1) << step;
        }
        ASSERT_EQ(index.size(), model.size());
        if (step % 97 != 0) continue;
        for (std::uint64_t k = 0; k < 200; ++k) {
            const auto* v = index.find(k);
            auto it = model.find(k);
            ASSERT_EQ(v != nullptr, it != model.end()) << "step " << step << " key " << k;
            if (v) {
                ASSERT_EQ(*v, it->second);
            }
        }
    }
    std::size_t seen = 0;
    index.for_each([&](std::uint64_t k, std::uint32_t v) {
        ++seen;
        EXPECT_EQ(model.at(k), v);
    });
    EXPECT_EQ(seen, model.size());
}

}  // namespace
}  // namespace iscsikit::cache::testing
