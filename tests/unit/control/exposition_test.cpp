// The Prometheus text format (0.0.4) as Exposition writes it.
#include <array>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "control/exposition.hpp"

namespace iscsikit::control {
namespace {

TEST(Exposition, LabelValuesEscapeBackslashQuoteAndLineFeed) {
    EXPECT_EQ(escape_label_value("plain"), "plain");
    EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
    EXPECT_EQ(escape_label_value("say \"hi\""), "say \\\"hi\\\"");
    EXPECT_EQ(escape_label_value("two\nlines"), "two\\nlines");
    EXPECT_EQ(escape_label_value("iqn.2026-11.org:x,y=z{}"), "iqn.2026-11.org:x,y=z{}");  // nothing else
}

TEST(Exposition, HelpEscapesBackslashAndLineFeedButNotQuotes) {
    EXPECT_EQ(escape_help("a \"b\" \\ c\nd"), "a \"b\" \\\\ c\\nd");
}

TEST(Exposition, FamilyHasHelpThenTypeThenSamples) {
    Exposition e;
    e.family("iscsikit_x_total", "counter", "What x counts.\nSecond line.");
    const std::array<Label, 2> labels{Label{"target", "iqn.a\"b"}, Label{"lun", "0"}};
    e.sample("iscsikit_x_total", labels, std::uint64_t{42});
    e.sample("iscsikit_x_total", {}, std::uint64_t{7});
    EXPECT_EQ(e.text(),
              "# HELP iscsikit_x_total What x counts.\\nSecond line.\n"
              "# TYPE iscsikit_x_total counter\n"
              "iscsikit_x_total{target=\"iqn.a\\\"b\",lun=\"0\"} 42\n"
              "iscsikit_x_total 7\n");
}

TEST(Exposition, GaugesMayBeNegativeAndFloatsUseTheFormatsSpecialValues) {
    Exposition e;
    e.sample("g", {}, std::int64_t{-3});
    e.sample("f", {}, 0.25);
    EXPECT_EQ(e.text(), "g -3\nf 0.25\n");
    EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
    EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
    EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
    EXPECT_EQ(format_value(1e-05), "1e-05");
}

TEST(Exposition, HistogramBucketsAreCumulativeEndWithInfAndCarrySumAndCount) {
    Exposition e;
    const std::array<double, 3> bounds{0.001, 0.01, 0.1};
    const std::array<std::uint64_t, 4> counts{2, 0, 3, 1};  // per bucket; the last is above 0.1
    const std::array<Label, 1> labels{Label{"op", "read"}};
    e.histogram("d_seconds", labels, bounds, counts, 1.5);
    EXPECT_EQ(e.text(),
              "d_seconds_bucket{op=\"read\",le=\"0.001\"} 2\n"
              "d_seconds_bucket{op=\"read\",le=\"0.01\"} 2\n"
              "d_seconds_bucket{op=\"read\",le=\"0.1\"} 5\n"
              "d_seconds_bucket{op=\"read\",le=\"+Inf\"} 6\n"
              "d_seconds_sum{op=\"read\"} 1.5\n"
              "d_seconds_count{op=\"read\"} 6\n");
}

TEST(Exposition, HistogramWithoutLabelsAndWithoutAnInfCountStillEndsWithInf) {
    Exposition e;
    const std::array<double, 2> bounds{1, 2};
    const std::array<std::uint64_t, 2> counts{1, 1};
    e.histogram("h", {}, bounds, counts, 2.5);
    EXPECT_EQ(e.text(),
              "h_bucket{le=\"1\"} 1\n"
              "h_bucket{le=\"2\"} 2\n"
              "h_bucket{le=\"+Inf\"} 2\n"
              "h_sum 2.5\n"
              "h_count 2\n");
}

}  // namespace
}  // namespace iscsikit::control
