// A one-line progress bar on stderr: bar, percent, bytes done of total, rate and time left,
// redrawn in place at most a few times a second.
#pragma once

#include <chrono>
#include <cstdint>

namespace iscsikit::cli {

class Progress {
public:
    using Clock = std::chrono::steady_clock;

    // Draws nothing unless `enabled` (cp: stderr is a terminal, or --progress).
    Progress(std::uint64_t total_bytes, bool enabled);
    void add(std::uint64_t bytes);
    // The final state and a newline (when anything was drawn).
    void finish();

    std::uint64_t done() const { return done_; }
    double elapsed_seconds() const;

private:
    void draw();

    std::uint64_t total_;
    std::uint64_t done_ = 0;
    bool enabled_;
    Clock::time_point start_ = Clock::now();
    Clock::time_point last_draw_{};
    std::size_t last_width_ = 0;
};

}  // namespace iscsikit::cli
