// The replacement policy of the block cache: 2Q (T. Johnson, D. Shasha, "2Q: A Low Overhead High
// Performance Buffer Management Replacement Algorithm", VLDB 1994), the "full version" with its
// three queues:
//   A1in  a FIFO of pages seen once recently (resident, at most `in_share` of the frames);
//   A1out a FIFO of the ids of pages A1in let go (not resident: a memory of recent use);
//   Am    an LRU of pages seen again after leaving A1in (resident): the hot set.
// A page enters A1in on its first miss; another reference soon after counts for nothing
// (correlated references, such as a read and the read-ahead before it); a miss on a page A1out
// remembers goes straight to Am. So a scan, whose pages are each touched once, passes through A1in
// and A1out and never displaces Am: the hot set survives any sequential pass.
//
// "Soon" is the paper's correlated reference period, measured here in references: a page still in
// A1in that is referenced again after more than A1in's share of frames worth of references went to
// the cache is promoted to Am as if it had left A1in and come back. (The paper's A1in only lets go
// of pages when frames run out; without this a hot set that arrived while the cache was filling
// would stay in A1in, the first queue a scan empties.)
//
// Frames that must stay (pinned by a transfer in flight, dirty and not yet written back) are
// passed over when a victim is chosen. Keys are page numbers; the policy holds no data.
// Not thread-safe: each cache shard guards its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>

namespace iscsikit::cache {

class TwoQueue {
public:
    using Key = std::uint64_t;
    enum class Queue : std::uint8_t { a1in, am };

    // `frames`: how many pages can be resident. A1in gets `in_share` of them (2Q's Kin, 25% in
    // the paper), A1out remembers `out_share` of that many ids (Kout, 50%).
    explicit TwoQueue(std::size_t frames, double in_share = 0.25, double out_share = 0.5);

    std::size_t frames() const { return frames_; }
    std::size_t resident() const { return map_.size() - ghosts_; }
    bool contains(Key key) const;  // resident
    std::optional<Queue> queue_of(Key key) const;

    // A reference to a resident page (a hit): Am moves it to the front; A1in leaves it be.
    void touch(Key key);

    // What admitting a page that is not resident did.
    struct Admission {
        bool admitted = false;       // false: every frame is in use and none may go
        std::optional<Key> evicted;  // the resident page that made room, if one had to
        bool hot = false;            // it went to Am (A1out remembered it)
    };
    // Admits `key` (not resident), evicting one page when every frame is in use. `may_evict(k)`
    // says whether resident page k may go now (not pinned, not dirty).
    Admission admit(Key key, const std::function<bool(Key)>& may_evict);

    // Forgets a resident page (invalidated, or its frame freed for another reason); no ghost.
    void erase(Key key);

private:
    struct Entry {
        std::list<Key>::iterator at;
        enum class Where : std::uint8_t { a1in, am, a1out } where;
        std::uint64_t admitted_at = 0;  // clock_ when it entered A1in
    };
    std::optional<Key> pick_victim(const std::function<bool(Key)>& may_evict);
    void remember(Key key);  // into A1out, trimmed to its bound

    std::size_t frames_;
    std::size_t in_limit_;
    std::size_t out_limit_;
    std::list<Key> a1in_, am_, a1out_;  // front: newest / most recently used
    std::unordered_map<Key, Entry> map_;
    std::size_t ghosts_ = 0;   // entries of map_ that are A1out ids
    std::uint64_t clock_ = 0;  // references so far (touches and admissions)
};

}  // namespace iscsikit::cache
