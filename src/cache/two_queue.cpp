#include "cache/two_queue.hpp"

#include <algorithm>
#include <cmath>

namespace iscsikit::cache {

TwoQueue::TwoQueue(std::size_t frames, double in_share, double out_share)
    : frames_(std::max<std::size_t>(frames, 1)),
      in_limit_(std::max<std::size_t>(static_cast<std::size_t>(std::llround(frames_ * in_share)), 1)),
      out_limit_(std::max<std::size_t>(static_cast<std::size_t>(std::llround(frames_ * out_share)), 1)),
      // Resident pages, A1out's ids, and the one id remember() adds before it trims.
      nodes_(frames_ + out_limit_ + 1),
      index_(nodes_.size()) {
    free_.reserve(nodes_.size());
    for (auto n = static_cast<std::uint32_t>(nodes_.size()); n-- > 0;) free_.push_back(n);
}

TwoQueue::List& TwoQueue::list(Where where) {
    switch (where) {
        case Where::a1in: return a1in_;
        case Where::am: return am_;
        case Where::a1out: break;
    }
    return a1out_;
}

void TwoQueue::push_front(Where where, std::uint32_t n) {
    List& l = list(where);
    Node& node = nodes_[n];
    node.where = where;
    node.prev = kNil;
    node.next = l.head;
    if (l.head != kNil)
        nodes_[l.head].prev = n;
    else
        l.tail = n;
    l.head = n;
    ++l.size;
}

void TwoQueue::unlink(std::uint32_t n) {
    List& l = list(nodes_[n].where);
    Node& node = nodes_[n];
    (node.prev != kNil ? nodes_[node.prev].next : l.head) = node.next;
    (node.next != kNil ? nodes_[node.next].prev : l.tail) = node.prev;
    node.prev = node.next = kNil;
    --l.size;
}

std::uint32_t TwoQueue::add(Key key, Where where) {
    const std::uint32_t n = free_.back();
    free_.pop_back();
    nodes_[n].key = key;
    nodes_[n].admitted_at = clock_;
    push_front(where, n);
    index_.put(key, n);
    return n;
}

void TwoQueue::remove(std::uint32_t n) {
    unlink(n);
    index_.erase(nodes_[n].key);
    free_.push_back(n);
}

bool TwoQueue::contains(Key key) const {
    const auto* n = index_.find(key);
    return n && nodes_[*n].where != Where::a1out;
}

std::optional<TwoQueue::Queue> TwoQueue::queue_of(Key key) const {
    const auto* n = index_.find(key);
    if (!n || nodes_[*n].where == Where::a1out) return std::nullopt;
    return nodes_[*n].where == Where::am ? Queue::am : Queue::a1in;
}

void TwoQueue::touch(Key key) {
    ++clock_;
    const auto* found = index_.find(key);
    if (!found) return;
    const std::uint32_t n = *found;
    const Where where = nodes_[n].where;
    if (where == Where::am) {
        if (am_.head == n) return;
        unlink(n);
        push_front(Where::am, n);
    } else if (where == Where::a1in && clock_ - nodes_[n].admitted_at > in_limit_) {
        unlink(n);  // past the correlated period: hot
        push_front(Where::am, n);
    }
}

void TwoQueue::remember(Key key) {
    add(key, Where::a1out);
    while (a1out_.size > out_limit_) remove(a1out_.tail);
}

// 2Q's reclaimfor(): from A1in's tail while A1in is over its share, else from Am's tail; a page
// that may not go is passed over (it stays where it is), and the other queue is tried after.
std::uint32_t TwoQueue::pick_victim(const std::function<bool(Key)>& may_evict) {
    const auto from = [&](const List& queue) {
        for (std::uint32_t n = queue.tail; n != kNil; n = nodes_[n].prev)
            if (may_evict(nodes_[n].key)) return n;
        return kNil;
    };
    const bool in_first = a1in_.size > in_limit_ || am_.size == 0;
    std::uint32_t victim = in_first ? from(a1in_) : from(am_);
    if (victim == kNil) victim = in_first ? from(am_) : from(a1in_);
    return victim;
}

TwoQueue::Admission TwoQueue::admit(Key key, const std::function<bool(Key)>& may_evict) {
    ++clock_;
    Admission result;
    if (contains(key)) {
        result.admitted = true;
        return result;
    }
    if (resident() >= frames_) {
        const std::uint32_t v = pick_victim(may_evict);
        if (v == kNil) return result;  // every frame must stay: the caller goes around the cache
        const Key victim = nodes_[v].key;
        const bool from_in = nodes_[v].where == Where::a1in;
        remove(v);
        if (from_in) remember(victim);  // only A1in's leavers are remembered (the paper's rule)
        result.evicted = victim;
    }
    if (const auto* ghost = index_.find(key)) {  // A1out remembered it: seen twice, so it is hot
        const std::uint32_t n = *ghost;
        unlink(n);
        nodes_[n].admitted_at = clock_;
        push_front(Where::am, n);
        result.hot = true;
    } else {
        add(key, Where::a1in);
    }
    result.admitted = true;
    return result;
}

void TwoQueue::erase(Key key) {
    if (const auto* n = index_.find(key)) remove(*n);
}

}  // namespace iscsikit::cache
