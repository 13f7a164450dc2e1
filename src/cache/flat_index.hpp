// The block cache's lookup table: 64-bit keys (page numbers) to 32-bit values (frame or node
// indexes), at most `max_entries` of them. One array sized at construction (at least twice the
// entries, a power of two) with open addressing and linear probing: a lookup reads one or two
// neighbouring slots and no node pointers, nothing is allocated after construction, and erase
// shifts the probe run back (no tombstones, so lookups never slow down with churn). Replaces
// std::unordered_map on the hit path, whose find was an eighth of the target's time at 4 KiB
// hits (a node per key: a chain walk and a division per lookup, an allocation per insert).
// Not thread-safe: each cache shard guards its own.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

namespace iscsikit::cache {

class FlatIndex {
public:
    using Key = std::uint64_t;
    static constexpr Key kNoKey = ~Key{0};  // the one key that cannot be stored

    explicit FlatIndex(std::size_t max_entries)
        : slots_(std::bit_ceil(std::max<std::size_t>(max_entries, 4) * 2)),
          mask_(slots_.size() - 1),
          shift_(64 - std::countr_zero(slots_.size())),
          max_entries_(max_entries) {}

    std::size_t size() const { return size_; }
    std::size_t max_size() const { return max_entries_; }

    // The value stored for `key`, or null.
    std::uint32_t* find(Key key) {
        for (std::size_t i = home(key);; i = (i + 1) & mask_) {
            if (slots_[i].key == key) return &slots_[i].value;
            if (slots_[i].key == kNoKey) return nullptr;
        }
    }
    const std::uint32_t* find(Key key) const { return const_cast<FlatIndex*>(this)->find(key); }
    bool contains(Key key) const { return find(key) != nullptr; }

    // Stores `value` for `key`, replacing what was there. False (nothing stored) when `key` is
    // new and the table already holds max_size() entries.
    bool put(Key key, std::uint32_t value) {
        std::size_t i = home(key);
        for (; slots_[i].key != kNoKey; i = (i + 1) & mask_)
            if (slots_[i].key == key) {
                slots_[i].value = value;
                return true;
            }
        if (size_ == max_entries_) return false;
        slots_[i] = {key, value};
        ++size_;
        return true;
    }

    // Removes `key`; false when it was not there.
    bool erase(Key key) {
        std::size_t hole = home(key);
        for (; slots_[hole].key != key; hole = (hole + 1) & mask_)
            if (slots_[hole].key == kNoKey) return false;
        // Backward shift: every later entry of the probe run that may live in the hole moves in.
        for (std::size_t j = (hole + 1) & mask_; slots_[j].key != kNoKey; j = (j + 1) & mask_) {
            const std::size_t from_home = (j - home(slots_[j].key)) & mask_;
            if (from_home >= ((j - hole) & mask_)) {
                slots_[hole] = slots_[j];
                hole = j;
            }
        }
        slots_[hole].key = kNoKey;
        --size_;
        return true;
    }

    // f(key, value) for every entry, in no particular order; f must not change the table.
    template <typename F>
    void for_each(F&& f) const {
        for (const auto& s : slots_)
            if (s.key != kNoKey) f(s.key, s.value);
    }

private:
    struct Slot {
        Key key = kNoKey;
        std::uint32_t value = 0;
    };
    // Fibonacci hashing: consecutive page numbers (a shard holds runs of them) spread evenly.
    std::size_t home(Key key) const { return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ull) >> shift_); }

    std::vector<Slot> slots_;
    std::size_t mask_;
    int shift_;
    std::size_t max_entries_;
    std::size_t size_ = 0;
};

}  // namespace iscsikit::cache
