#include "progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "initiator/format.hpp"

namespace iscsikit::cli {

namespace {
constexpr auto kRedrawInterval = std::chrono::milliseconds(200);
constexpr std::size_t kBarWidth = 24;

// "[#######.................]  29.6%  75.8 MiB / 256.0 MiB  151.2 MiB/s  ETA 0:01"
std::string line(std::uint64_t done, std::uint64_t total, double elapsed_seconds) {
    const double fraction = total ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 1.0;
    const auto filled = static_cast<std::size_t>(fraction * kBarWidth);
    const double rate = elapsed_seconds > 0 ? static_cast<double>(done) / elapsed_seconds : 0.0;
    std::string eta = "--:--";
    if (done >= total)
        eta = initiator::format_duration(std::chrono::seconds(std::llround(elapsed_seconds)));
    else if (rate > 0)
        eta = initiator::format_duration(std::chrono::seconds(std::llround(static_cast<double>(total - done) / rate)));
    return fmt::format("[{}{}] {:5.1f}%  {} / {}  {}  {} {}", std::string(filled, '#'),
                       std::string(kBarWidth - filled, '.'), fraction * 100.0, initiator::format_size(done),
                       initiator::format_size(total), initiator::format_rate(rate), done >= total ? "in" : "ETA", eta);
}

}  // namespace

Progress::Progress(std::uint64_t total_bytes, bool enabled) : total_(total_bytes), enabled_(enabled) {}

double Progress::elapsed_seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

void Progress::add(std::uint64_t bytes) {
    done_ += bytes;
    if (!enabled_) return;
    const auto now = Clock::now();
    if (now - last_draw_ < kRedrawInterval) return;
    last_draw_ = now;
    draw();
}

void Progress::finish() {
    if (!enabled_) return;
    draw();
    std::fputc('\n', stderr);
    std::fflush(stderr);
}

void Progress::draw() {
    auto text = line(done_, total_, elapsed_seconds());
    const std::size_t width = text.size();
    if (width < last_width_) text.append(last_width_ - width, ' ');  // wipe what the longer last line left
    last_width_ = width;
    std::fprintf(stderr, "\r%s", text.c_str());
    std::fflush(stderr);
}

}  // namespace iscsikit::cli
