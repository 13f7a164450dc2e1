#include "latency.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace iscsikit::cli {

namespace {
constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << LatencyHistogram::kSubBucketBits;
}  // namespace

// Values below 128 have a bucket each; above, each power of two [2^m, 2^(m+1)) is split into 128
// equal buckets of width 2^(m-7).
std::size_t LatencyHistogram::bucket_of(std::uint64_t value) {
    if (value < kSubBuckets) return static_cast<std::size_t>(value);
    const int msb = 63 - std::countl_zero(value);
    const int shift = msb - kSubBucketBits;
    const auto bucket = (static_cast<std::size_t>(shift + 1) << kSubBucketBits) + ((value >> shift) - kSubBuckets);
    return std::min(bucket, kBuckets - 1);
}

double LatencyHistogram::midpoint_of(std::size_t bucket) {
    if (bucket < kSubBuckets) return static_cast<double>(bucket);
    const int shift = static_cast<int>(bucket >> kSubBucketBits) - 1;
    const std::uint64_t low = (kSubBuckets + (bucket & (kSubBuckets - 1))) << shift;
    const std::uint64_t width = std::uint64_t{1} << shift;
    return static_cast<double>(low) + static_cast<double>(width - 1) / 2.0;
}

void LatencyHistogram::record(std::uint64_t nanoseconds) {
    ++buckets_[bucket_of(nanoseconds)];
    ++count_;
    sum_ += nanoseconds;
    max_ = std::max(max_, nanoseconds);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    max_ = std::max(max_, other.max_);
}

double LatencyHistogram::percentile(double fraction) const {
    if (count_ == 0) return 0.0;
    // The rank of the sample asked for, 1-based: p50 of 10 samples is the 5th.
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(std::clamp(fraction, 0.0, 1.0) * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += buckets_[i];
        if (seen >= rank) return std::min(midpoint_of(i), static_cast<double>(max_));
    }
    return static_cast<double>(max_);
}

}  // namespace iscsikit::cli
