#include "target/login_throttle.hpp"

#include <algorithm>
#include <cstdint>

namespace iscsikit::target {

std::chrono::milliseconds LoginThrottle::failed(const std::string& source, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (sources_.size() >= kMaxSources && !sources_.contains(source)) {
        // Full: forget the stale sources, or else the one idle longest.
        std::erase_if(sources_, [&](const auto& item) { return now - item.second.last > kForgetAfter; });
        if (sources_.size() >= kMaxSources) {
            auto oldest = std::min_element(sources_.begin(), sources_.end(),
                                           [](const auto& a, const auto& b) { return a.second.last < b.second.last; });
            sources_.erase(oldest);
        }
    }
    Entry& entry = sources_[source];
    if (entry.failures != 0 && now - entry.last > kForgetAfter) entry.failures = 0;
    entry.failures = std::min(entry.failures + 1, 32u);
    entry.last = now;
    const unsigned shift = std::min(entry.failures - 1, 16u);
    return std::min<std::chrono::milliseconds>(kMaxDelay, kFirstDelay * (std::int64_t{1} << shift));
}

void LoginThrottle::succeeded(const std::string& source) {
    std::lock_guard lock(mutex_);
    sources_.erase(source);
}

std::size_t LoginThrottle::tracked() const {
    std::lock_guard lock(mutex_);
    return sources_.size();
}

}  // namespace iscsikit::target
