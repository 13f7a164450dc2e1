// Sequential-stream detection with adaptive read-ahead, one per LUN (issue 9). Reads report where
// they went; a read that continues a known stream (it starts where the stream's last read ended)
// confirms it, and from the second such read on the detector asks for the next `window` bytes
// ahead of the stream to be read into the cache. The window doubles while the stream keeps using
// what was read ahead, up to `max_window`; the cache reports read-ahead that was evicted unread
// (wasted), which halves the window, and a stream whose window falls below `min_window` gets no
// more read-ahead until it proves itself again. Several interleaved streams (one per file of a
// file system on the LUN, say) are tracked at once; the least recently used one gives way.
//
// Thread-safe (sessions on every reactor read the same LUN): one short critical section per call.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>

namespace iscsikit::cache {

struct ReadAheadOptions {
    std::uint64_t min_window = std::uint64_t{128} << 10;  // the first read-ahead of a stream
    std::uint64_t max_window = std::uint64_t{4} << 20;    // the most read ahead at once
};

struct ReadAheadStats {
    std::uint64_t issued_bytes = 0;  // asked for by advise()
    std::uint64_t used_bytes = 0;    // read by a command after being read ahead (used())
    std::uint64_t wasted_bytes = 0;  // evicted unread (wasted())
};

class ReadAhead {
public:
    explicit ReadAhead(ReadAheadOptions options = {}) : options_(options) {}

    struct Range {
        std::uint64_t offset = 0;
        std::uint64_t length = 0;
    };
    // A read of [offset, offset + length) arrived; `end` is the LUN's size. Returns the range to
    // read ahead now, if any (never past `end`, never what this stream was already given).
    std::optional<Range> advise(std::uint64_t offset, std::uint64_t length, std::uint64_t end);
    // Bytes read ahead were then read by a command.
    void used(std::uint64_t bytes);
    // Bytes read ahead at `offset` were evicted unread.
    void wasted(std::uint64_t offset, std::uint64_t bytes);

    ReadAheadStats stats() const;

private:
    struct Stream {
        std::uint64_t next = 0;       // where the stream's next read is expected
        std::uint64_t ahead_end = 0;  // end of what was read ahead for it
        std::uint64_t window = 0;     // 0: not confirmed yet, or switched off until it is again
        std::uint64_t last_use = 0;   // for replacing the least recently used stream
        bool live = false;
        unsigned confirmations = 0;  // reads in a row; read-ahead starts at the second
    };
    static constexpr std::size_t kStreams = 8;

    Stream* find(std::uint64_t offset);
    Stream& replace();

    ReadAheadOptions options_;
    mutable std::mutex mutex_;
    std::array<Stream, kStreams> streams_{};
    std::uint64_t clock_ = 0;
    ReadAheadStats stats_;
};

}  // namespace iscsikit::cache
