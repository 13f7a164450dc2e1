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
//
// Every hit and admission goes through here, so nothing is allocated after construction: the
// queues are linked by index through one array of nodes (as many as frames plus A1out's ids),
// found by key through a FlatIndex.
// Not thread-safe: each cache shard guards its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "cache/flat_index.hpp"

namespace iscsikit::cache {

class TwoQueue {
public:
    using Key = std::uint64_t;
    enum class Queue : std::uint8_t { a1in, am };

    // `frames`: how many pages can be resident. A1in gets `in_share` of them (2Q's Kin, 25% in
    // the paper), A1out remembers `out_share` of that many ids (Kout, 50%).
    explicit TwoQueue(std::size_t frames, double in_share = 0.25, double out_share = 0.5);

    std::size_t frames() const { return frames_; }
    std::size_t resident() const { return a1in_.size + am_.size; }
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
    static constexpr std::uint32_t kNil = ~std::uint32_t{0};
    enum class Where : std::uint8_t { a1in, am, a1out };
    struct Node {
        Key key = 0;
        std::uint64_t admitted_at = 0;  // clock_ when it entered A1in
        std::uint32_t prev = kNil, next = kNil;
        Where where = Where::a1in;
    };
    struct List {  // head: newest / most recently used
        std::uint32_t head = kNil, tail = kNil;
        std::size_t size = 0;
    };
    List& list(Where where);
    void push_front(Where where, std::uint32_t n);
    void unlink(std::uint32_t n);
    std::uint32_t add(Key key, Where where);  // a node from the free list, at the queue's front
    void remove(std::uint32_t n);             // unlinked, unindexed, freed
    std::uint32_t pick_victim(const std::function<bool(Key)>& may_evict);  // a node, or kNil
    void remember(Key key);                                                // into A1out, trimmed to its bound

    std::size_t frames_;
    std::size_t in_limit_;
    std::size_t out_limit_;
    std::vector<Node> nodes_;
    std::vector<std::uint32_t> free_;
    FlatIndex index_;  // key -> node
    List a1in_, am_, a1out_;
    std::uint64_t clock_ = 0;  // references so far (touches and admissions)
};

}  // namespace iscsikit::cache
