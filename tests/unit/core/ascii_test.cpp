// The shared decimal parser of the text parsers (core/ascii.hpp).
#include "core/ascii.hpp"

#include <limits>

#include <gtest/gtest.h>

namespace iscsikit {
namespace {

TEST(ParseDecimal, DigitsUpToTheBound) {
    EXPECT_EQ(parse_decimal("0", 10), 0u);
    EXPECT_EQ(parse_decimal("007", 10), 7u);
    EXPECT_EQ(parse_decimal("65535", 65535), 65535u);
    EXPECT_EQ(parse_decimal("65536", 65535), std::nullopt);
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    EXPECT_EQ(parse_decimal("18446744073709551615", kMax), kMax);
    EXPECT_EQ(parse_decimal("18446744073709551616", kMax), std::nullopt) << "one past 2^64 - 1, no wrap";
    EXPECT_EQ(parse_decimal("99999999999999999999999", kMax), std::nullopt);
}

TEST(ParseDecimal, AnythingButDigitsIsRefused) {
    for (const char* text : {"", "+1", "-1", " 1", "1 ", "1k", "0x10", "١"})
        EXPECT_EQ(parse_decimal(text, 1000), std::nullopt) << text;
}

}  // namespace
}  // namespace iscsikit
