// Sizes on the command line and in output (initiator/format.hpp).
#include <gtest/gtest.h>

#include "initiator/format.hpp"

namespace iscsikit::initiator {
namespace {

TEST(ParseSize, PlainBytes) {
    EXPECT_EQ(parse_size("0").value(), 0u);
    EXPECT_EQ(parse_size("512").value(), 512u);
    EXPECT_EQ(parse_size("512b").value(), 512u);
}

TEST(ParseSize, SuffixesArePowersOf1024InEitherCase) {
    EXPECT_EQ(parse_size("4k").value(), 4096u);
    EXPECT_EQ(parse_size("4K").value(), 4096u);
    EXPECT_EQ(parse_size("4KiB").value(), 4096u);
    EXPECT_EQ(parse_size("4kb").value(), 4096u);
    EXPECT_EQ(parse_size("1m").value(), 1048576u);
    EXPECT_EQ(parse_size("256M").value(), 256u << 20);
    EXPECT_EQ(parse_size("2g").value(), 2ull << 30);
    EXPECT_EQ(parse_size("3t").value(), 3ull << 40);
}

TEST(ParseSize, RejectsTextThatIsNoSizeWithAMessageNamingIt) {
    for (const char* text : {"", "k", "-1", "1.5m", "4x", "4kk", " 4k", "4k "}) {
        auto r = parse_size(text);
        ASSERT_FALSE(r) << text;
        EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
        EXPECT_NE(r.error().message.find("'" + std::string(text) + "'"), std::string::npos) << r.error().message;
    }
}

TEST(ParseSize, RejectsValuesBeyond64Bits) {
    EXPECT_EQ(parse_size("18446744073709551615").value(), 18446744073709551615ull);
    EXPECT_FALSE(parse_size("18446744073709551616"));
    EXPECT_FALSE(parse_size("16777216t"));  // 2^24 TiB = 2^64
    EXPECT_EQ(parse_size("16777215t").value(), 16777215ull << 40);
}

TEST(FormatSize, OneDecimalInTheLargestUnitNotAboveTheValue) {
    EXPECT_EQ(format_size(0), "0 B");
    EXPECT_EQ(format_size(1023), "1023 B");
    EXPECT_EQ(format_size(1024), "1.0 KiB");
    EXPECT_EQ(format_size(1536), "1.5 KiB");
    EXPECT_EQ(format_size(100ull << 20), "100.0 MiB");
    EXPECT_EQ(format_size(3ull << 29), "1.5 GiB");
    EXPECT_EQ(format_size(18446744073709551615ull), "16.0 EiB");
}

TEST(FormatSize, NeverPrints1024OfAUnit) {
    EXPECT_EQ(format_size((1ull << 20) - 1), "1.0 MiB");
    EXPECT_EQ(format_size((1ull << 30) - (1ull << 20)), "1023.0 MiB");
}

TEST(FormatRate, AppendsPerSecondAndHandlesZero) {
    EXPECT_EQ(format_rate(215.3 * 1048576), "215.3 MiB/s");
    EXPECT_EQ(format_rate(0), "0 B/s");
    EXPECT_EQ(format_rate(-5), "0 B/s");
}

TEST(FormatDuration, MinutesAndSecondsThenHours) {
    using std::chrono::seconds;
    EXPECT_EQ(format_duration(seconds(7)), "0:07");
    EXPECT_EQ(format_duration(seconds(65)), "1:05");
    EXPECT_EQ(format_duration(seconds(720)), "12:00");
    EXPECT_EQ(format_duration(seconds(3723)), "1:02:03");
    EXPECT_EQ(format_duration(seconds(-1)), "--:--");
}

}  // namespace
}  // namespace iscsikit::initiator
