#include "cache/read_ahead.hpp"

#include <algorithm>

namespace iscsikit::cache {

ReadAhead::Stream* ReadAhead::find(std::uint64_t offset) {
    for (auto& s : streams_)
        if (s.live && s.next == offset) return &s;
    return nullptr;
}

ReadAhead::Stream& ReadAhead::replace() {
    Stream* oldest = &streams_.front();
    for (auto& s : streams_) {
        if (!s.live) return s;
        if (s.last_use < oldest->last_use) oldest = &s;
    }
    return *oldest;
}

std::optional<ReadAhead::Range> ReadAhead::advise(std::uint64_t offset, std::uint64_t length, std::uint64_t end) {
    std::lock_guard lock(mutex_);
    ++clock_;
    Stream* s = find(offset);
    if (!s) {
        // A read that continues nothing starts a stream; one read is not a stream yet.
        Stream& fresh = replace();
        fresh = Stream{offset + length, offset + length, 0, clock_, true};
        fresh.confirmations = 1;
        return std::nullopt;
    }
    s->next = offset + length;
    s->last_use = clock_;
    if (s->window == 0) {
        if (++s->confirmations < 2) return std::nullopt;
        s->window = options_.min_window;  // the second read in a row: a stream
    }
    // Read ahead once less than a window lies ahead of the reader (asynchronous read-ahead: the
    // next window is read while the reader still has a window's worth, so a reader faster than
    // one read of the store waits for none; half a window ahead left it waiting on a fast disk).
    const std::uint64_t from = std::max(s->ahead_end, s->next);
    if (from >= end || from - s->next >= s->window) return std::nullopt;
    const std::uint64_t to = std::min(from + s->window, end);
    s->ahead_end = to;
    s->window = std::min(s->window * 2, options_.max_window);  // it held: ramp up
    stats_.issued_bytes += to - from;
    return Range{from, to - from};
}

void ReadAhead::used(std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    stats_.used_bytes += bytes;
}

void ReadAhead::wasted(std::uint64_t offset, std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    stats_.wasted_bytes += bytes;
    for (auto& s : streams_) {
        if (!s.live || s.window == 0 || offset >= s.ahead_end || offset + bytes + s.window < s.next) continue;
        s.window /= 2;
        if (s.window < options_.min_window) {  // wasted again and again: stop until it proves itself
            s.window = 0;
            s.confirmations = 0;
            s.ahead_end = s.next;
        }
    }
}

ReadAheadStats ReadAhead::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

}  // namespace iscsikit::cache
