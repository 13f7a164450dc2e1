// The Prometheus text exposition format, version 0.0.4: metric families (# HELP, # TYPE) and
// their samples, label values escaped as the format says, histograms as cumulative buckets with
// +Inf, _sum and _count. Knows nothing of iSCSI: metrics.cpp says what is rendered.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace iscsikit::control {

struct Label {
    std::string_view name;
    std::string_view value;
};

// The Content-Type of what Exposition writes.
inline constexpr std::string_view kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

// A label value as the format quotes it: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view value);
// HELP text: backslash and line feed escaped (quotes are not).
std::string escape_help(std::string_view text);

class Exposition {
public:
    // Starts a family; its samples follow. `type` is counter, gauge or histogram.
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, std::span<const Label> labels, std::uint64_t value);
    void sample(std::string_view name, std::span<const Label> labels, std::int64_t value);
    void sample(std::string_view name, std::span<const Label> labels, double value);
    // One histogram's series: `counts` per bucket, not cumulative, one more than `bounds` (the
    // last is +Inf); `sum` in the unit of the bounds.
    void histogram(std::string_view name, std::span<const Label> labels, std::span<const double> bounds,
                   std::span<const std::uint64_t> counts, double sum);

    const std::string& text() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    void series(std::string_view name, std::string_view suffix, std::span<const Label> labels,
                const Label* extra = nullptr);
    std::string out_;
};

// A float as the format writes it: shortest exact form, "+Inf", "-Inf", "NaN".
std::string format_value(double value);

}  // namespace iscsikit::control
