#include "cache/two_queue.hpp"

#include <algorithm>
#include <cmath>

namespace iscsikit::cache {

TwoQueue::TwoQueue(std::size_t frames, double in_share, double out_share)
    : frames_(std::max<std::size_t>(frames, 1)),
      in_limit_(std::max<std::size_t>(static_cast<std::size_t>(std::llround(frames_ * in_share)), 1)),
      out_limit_(std::max<std::size_t>(static_cast<std::size_t>(std::llround(frames_ * out_share)), 1)) {}

bool TwoQueue::contains(Key key) const {
    auto it = map_.find(key);
    return it != map_.end() && it->second.where != Entry::Where::a1out;
}

std::optional<TwoQueue::Queue> TwoQueue::queue_of(Key key) const {
    auto it = map_.find(key);
    if (it == map_.end() || it->second.where == Entry::Where::a1out) return std::nullopt;
    return it->second.where == Entry::Where::am ? Queue::am : Queue::a1in;
}

void TwoQueue::touch(Key key) {
    ++clock_;
    auto it = map_.find(key);
    if (it == map_.end()) return;
    Entry& e = it->second;
    if (e.where == Entry::Where::am) {
        am_.splice(am_.begin(), am_, e.at);
    } else if (e.where == Entry::Where::a1in && clock_ - e.admitted_at > in_limit_) {
        am_.splice(am_.begin(), a1in_, e.at);  // past the correlated period: hot
        e.where = Entry::Where::am;
    }
}

void TwoQueue::remember(Key key) {
    a1out_.push_front(key);
    map_[key] = Entry{a1out_.begin(), Entry::Where::a1out, 0};
    ++ghosts_;
    while (a1out_.size() > out_limit_) {
        map_.erase(a1out_.back());
        a1out_.pop_back();
        --ghosts_;
    }
}

// 2Q's reclaimfor(): from A1in's tail while A1in is over its share, else from Am's tail; a page
// that may not go is passed over (it stays where it is), and the other queue is tried after.
std::optional<TwoQueue::Key> TwoQueue::pick_victim(const std::function<bool(Key)>& may_evict) {
    const auto from = [&](std::list<Key>& queue) -> std::optional<Key> {
        for (auto it = queue.rbegin(); it != queue.rend(); ++it)
            if (may_evict(*it)) return *it;
        return std::nullopt;
    };
    const bool in_first = a1in_.size() > in_limit_ || am_.empty();
    auto victim = in_first ? from(a1in_) : from(am_);
    if (!victim) victim = in_first ? from(am_) : from(a1in_);
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
        auto victim = pick_victim(may_evict);
        if (!victim) return result;  // every frame must stay: the caller goes around the cache
        auto v = map_.find(*victim);
        const bool from_in = v->second.where == Entry::Where::a1in;
        (from_in ? a1in_ : am_).erase(v->second.at);
        map_.erase(v);
        if (from_in) remember(*victim);  // only A1in's leavers are remembered (the paper's rule)
        result.evicted = victim;
    }
    auto ghost = map_.find(key);
    if (ghost != map_.end()) {  // A1out remembered it: seen twice, so it is hot
        a1out_.erase(ghost->second.at);
        --ghosts_;
        am_.push_front(key);
        ghost->second = Entry{am_.begin(), Entry::Where::am, clock_};
        result.hot = true;
    } else {
        a1in_.push_front(key);
        map_[key] = Entry{a1in_.begin(), Entry::Where::a1in, clock_};
    }
    result.admitted = true;
    return result;
}

void TwoQueue::erase(Key key) {
    auto it = map_.find(key);
    if (it == map_.end()) return;
    switch (it->second.where) {
        case Entry::Where::a1in: a1in_.erase(it->second.at); break;
        case Entry::Where::am: am_.erase(it->second.at); break;
        case Entry::Where::a1out:
            a1out_.erase(it->second.at);
            --ghosts_;
            break;
    }
    map_.erase(it);
}

}  // namespace iscsikit::cache
