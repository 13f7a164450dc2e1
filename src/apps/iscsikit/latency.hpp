// Latencies of many I/Os in fixed memory: a log-linear histogram (128 linear buckets per power of
// two, so a percentile is within 1% of the true value), plus the exact count, sum and maximum.
// Recording is a few instructions and never allocates: the bench records every I/O.
#pragma once

#include <array>
#include <cstdint>

namespace iscsikit::cli {

class LatencyHistogram {
public:
    void record(std::uint64_t nanoseconds);
    void merge(const LatencyHistogram& other);

    std::uint64_t count() const { return count_; }
    std::uint64_t max() const { return max_; }
    double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
    // The value at or below which `fraction` (0..1) of the samples lie; 0 with no samples.
    double percentile(double fraction) const;

    static constexpr int kSubBucketBits = 7;
    static constexpr int kMaxBits = 48;  // 2^48 ns = 3 days; longer latencies land in the last bucket

private:
    static constexpr std::size_t kBuckets = (kMaxBits - kSubBucketBits + 1) << kSubBucketBits;
    static std::size_t bucket_of(std::uint64_t value);
    static double midpoint_of(std::size_t bucket);

    std::array<std::uint64_t, kBuckets> buckets_{};
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t max_ = 0;
};

}  // namespace iscsikit::cli
