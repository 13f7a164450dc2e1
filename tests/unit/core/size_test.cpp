// The one size syntax of the daemon's configuration and the iscsikit tool (core/size.hpp).
#include "core/size.hpp"

#include <gtest/gtest.h>

#include "parse_cases.hpp"

namespace iscsikit {
namespace {

// One row per text: what it parses to.
void expect_sizes(std::initializer_list<std::pair<const char*, std::uint64_t>> cases) {
    test::expect_parsed<std::uint64_t>([](std::string_view text) { return parse_size(text); }, cases);
}

constexpr std::uint64_t kKi = 1024;

TEST(ParseSize, PlainBytesWithOrWithoutB) {
    expect_sizes({{"0", 0}, {"512", 512}, {"512b", 512}, {"512B", 512}, {"007", 7}});
}

// The daemon's old form: one letter K, M, G or T, now also P and E.
TEST(ParseSize, OneLetterSuffixesArePowersOf1024InEitherCase) {
    expect_sizes({{"4K", 4 * kKi},
                  {"4k", 4 * kKi},
                  {"16M", 16 * kKi * kKi},
                  {"1g", kKi * kKi * kKi},
                  {"2T", std::uint64_t{2} << 40},
                  {"3p", std::uint64_t{3} << 50},
                  {"15E", std::uint64_t{15} << 60}});
}

// The tool's old forms: the letter may be followed by b or ib (still powers of 1024).
TEST(ParseSize, LetterMayBeFollowedByBOrIb) {
    expect_sizes({{"4kb", 4 * kKi},
                  {"4kB", 4 * kKi},
                  {"4KB", 4 * kKi},
                  {"4kib", 4 * kKi},
                  {"4KiB", 4 * kKi},
                  {"4kiB", 4 * kKi},
                  {"1GB", kKi * kKi * kKi},
                  {"2TiB", std::uint64_t{2} << 40}});
}

TEST(ParseSize, RejectsTextThatIsNoSize) {
    for (const char* text : {"", "k", "G", "b", "-1", "+1", "1.5m", "4x", "4kk", "4kbb", "4KIB", "4ib", "4bi", " 4k",
                             "4k ", "0x10", "4 k"}) {
        auto r = parse_size(text);
        ASSERT_FALSE(r) << text;
        EXPECT_FALSE(r.error().message.empty());
    }
}

TEST(ParseSize, MessageIsTheReasonAlone) {
    test::expect_refused([](std::string_view text) { return parse_size(text); },
                         {{"lots", "expected a number of bytes, optionally with a suffix k, m, g, t, p or e"},
                          {"12Q", "unknown suffix 'Q' (k, m, g, t, p or e, then optionally b or ib)"},
                          {"16E", "too large (more than 64 bits)"}});
}

TEST(ParseSize, RejectsValuesBeyond64Bits) {
    expect_sizes({{"18446744073709551615", ~std::uint64_t{0}}, {"16777215T", std::uint64_t{16777215} << 40}});
    // 2^64, 2^24 TiB = 2^64, 16 EiB = 2^64.
    for (const char* text :
         {"18446744073709551616", "99999999999999999999999", "16777216t", "16e", "18446744073709551615k"})
        EXPECT_FALSE(parse_size(text)) << text;
}

TEST(FormatExactSize, LargestExactSuffixElseBytes) {
    EXPECT_EQ(format_exact_size(0), "0");
    EXPECT_EQ(format_exact_size(512), "512");
    EXPECT_EQ(format_exact_size(1536), "1536");
    EXPECT_EQ(format_exact_size(4096), "4K");
    EXPECT_EQ(format_exact_size(std::uint64_t{1} << 30), "1G");
    EXPECT_EQ(format_exact_size(std::uint64_t{3} << 29), "1536M");
    EXPECT_EQ(format_exact_size(std::uint64_t{2} << 40), "2T");
    EXPECT_EQ(format_exact_size(std::uint64_t{5} << 50), "5P");
    EXPECT_EQ(format_exact_size(std::uint64_t{15} << 60), "15E");
    EXPECT_EQ(format_exact_size(18446744073709551615ull), "18446744073709551615");
}

TEST(FormatExactSize, ParsesBackToTheSameValue) {
    for (std::uint64_t bytes : std::initializer_list<std::uint64_t>{0, 1, 4096, std::uint64_t{3} << 29,
                                                                    std::uint64_t{1} << 63, ~std::uint64_t{0}})
        EXPECT_EQ(parse_size(format_exact_size(bytes)).value(), bytes) << bytes;
}

}  // namespace
}  // namespace iscsikit
