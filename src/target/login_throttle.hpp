// Slows a guesser down: every failed authentication or authorization from one source address
// waits longer before its Login Response (100 ms, doubling per failure, at most 8 s), so trying
// secrets or initiator names costs time. Bounded memory; touched only at login.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace iscsikit::target {

class LoginThrottle {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds kFirstDelay{100};
    static constexpr std::chrono::milliseconds kMaxDelay{8000};
    // A source that has not failed for this long starts again from kFirstDelay.
    static constexpr std::chrono::minutes kForgetAfter{10};
    static constexpr std::size_t kMaxSources = 4096;

    // Records a failure from `source` and returns how long its answer must wait.
    std::chrono::milliseconds failed(const std::string& source, Clock::time_point now = Clock::now());
    // A successful login clears the source's record.
    void succeeded(const std::string& source);
    std::size_t tracked() const;

private:
    struct Entry {
        unsigned failures = 0;
        Clock::time_point last;
    };
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> sources_;
};

}  // namespace iscsikit::target
