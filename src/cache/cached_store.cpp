#include "cache/cached_store.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <optional>
#include <system_error>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cache/flat_index.hpp"
#include "cache/two_queue.hpp"
#include "core/byte_buffer.hpp"
#include "core/io_thread.hpp"
#include "core/size.hpp"

namespace iscsikit::cache {

namespace {

constexpr std::size_t kShards = 16;
constexpr std::uint64_t kPagesPerShardRun = 16;  // neighbouring pages share a shard: one lock per 64 KiB
constexpr std::uint64_t kMaxLoadPages = kMaxFlushBytes / kPageBytes;
constexpr std::size_t kReadAheadSlots = 8;  // detectors, by reactor: no lock shared across reactors

// Holds the lock of one shard at a time while a loop walks neighbouring pages (16 share a
// shard): one lock for each run of them, and never two held together.
class OneShardLock {
public:
    void hold(std::mutex& mutex) {
        if (held_ == &mutex) return;
        if (lock_) lock_.unlock();
        lock_ = std::unique_lock(mutex);
        held_ = &mutex;
    }
    void release() {
        if (lock_) lock_.unlock();
        held_ = nullptr;
    }

private:
    std::mutex* held_ = nullptr;
    std::unique_lock<std::mutex> lock_;
};

// The part of [a, a + an) that overlaps [b, b + bn), as (start, end); empty when start >= end.
std::pair<std::uint64_t, std::uint64_t> overlap(std::uint64_t a, std::uint64_t an, std::uint64_t b, std::uint64_t bn) {
    return {std::max(a, b), std::min(a + an, b + bn)};
}

}  // namespace

// A command reading through the cache: done runs once every page it needs has been copied in.
struct CachedStore::ReadJob {
    std::uint64_t offset = 0;
    ByteSpan dst;
    IoEngine* io = nullptr;
    IoCallback done;
    std::atomic<unsigned> parts{1};  // loads and waits outstanding, +1 while it is being set up
    std::atomic<int> error{0};
};

struct CachedStore::WriteJob {
    std::uint64_t offset = 0;
    ConstByteSpan src;
    bool fua = false;
    IoEngine* io = nullptr;
    IoCallback done;
    ByteBuffer scratch;  // a partly written page is read into the cache through it first
    unsigned attempts = 0;
};

// One backstore read of consecutive pages, for a command (job) or for read-ahead (no job).
struct CachedStore::Load {
    std::uint64_t first_page = 0;
    std::uint64_t count = 0;
    std::uint64_t end = 0;  // byte end of what the store reads (the store's end then, if before the last page's)
    ReadJob* job = nullptr;
    bool into_job = false;     // the store reads straight into job->dst
    bool into_frames = false;  // ... or straight into the pages' frames (every page cached)
    bool ahead = false;
    std::uint8_t ahead_slot = 0;
    std::vector<bool> cached;           // per page: a frame waits for it (else it only feeds the job)
    std::vector<std::uint32_t> frames;  // per page: its frame, when cached
    std::vector<iovec> pieces;          // into_frames: the frames, for the store's readv
    ByteBuffer buffer;
    ByteSpan into;
};

struct CachedStore::Page {
    std::uint32_t frame = 0;
    bool loading = true;
    // Its bytes may not be the store's (a write or unmap raced with its load, overlapping
    // writethrough writes ended, a write failed): never served, gone once nothing holds it.
    bool stale = false;
    bool dirty = false;
    bool flushing = false;
    bool ahead = false;  // read ahead and not read since
    std::uint8_t ahead_slot = 0;
    bool overlapped = false;  // writethrough: another write was in flight on it meanwhile
    std::uint32_t pins = 0;
    std::uint64_t generation = 0;   // writes into it (writeback), to tell a flushed copy current
    std::vector<ReadJob*> waiters;  // while loading
};

// Its pages live in an array by frame (a resident page has exactly one), found by page number
// through a FlatIndex: no allocation per page, and a Page stays where it is while resident.
struct CachedStore::Shard {
    Shard(std::uint32_t first_frame, std::size_t frames)
        : policy(frames), index(frames), slots(frames), base(first_frame) {}

    Page* find(std::uint64_t page) {
        const auto* f = index.find(page);
        return f ? &slots[*f - base] : nullptr;
    }
    Page& insert(std::uint64_t page, std::uint32_t frame) {
        index.put(page, frame);
        Page& e = slots[frame - base];
        e = Page{};
        e.frame = frame;
        return e;
    }
    void erase(std::uint64_t page) { index.erase(page); }
    std::size_t resident() const { return index.size(); }

    std::mutex mutex;
    TwoQueue policy;
    FlatIndex index;          // page -> frame
    std::vector<Page> slots;  // by frame - base
    std::uint32_t base;
    std::vector<std::uint32_t> free_frames;
    std::unordered_map<std::uint64_t, std::uint32_t> writing;  // writethrough writes in flight per page
    std::set<std::uint64_t> dirty;
    std::uint64_t hits = 0, misses = 0, evictions = 0;
};

namespace {

void part_done(CachedStore::ReadJob* job, std::error_code ec);

}  // namespace

CachedStore::CachedStore(std::unique_ptr<backstore::Backstore> store, const CacheOptions& options)
    : store_(std::move(store)), options_(options) {
    frames_ = std::max<std::uint64_t>(options_.size_bytes / kPageBytes, kShards * 4);
    const std::uint64_t per_shard = frames_ / kShards;
    frames_ = per_shard * kShards;
    dirty_limit_ = std::max<std::uint64_t>(
        static_cast<std::uint64_t>(static_cast<double>(frames_) * options_.dirty_share), kMaxLoadPages);
    dirty_limit_ = std::min(dirty_limit_, frames_ - frames_ / 8);
    // All of the arena's memory at once (MAP_POPULATE): the cache's size is what it takes from the
    // start, and no command pays for a page fault on a frame's first use.
    void* arena = ::mmap(nullptr, frames_ * kPageBytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (arena == MAP_FAILED)
        throw std::system_error(errno, std::generic_category(),
                                fmt::format("{}: {} of memory for the block cache", store_->describe(),
                                            format_exact_size(frames_ * kPageBytes)));
    arena_ = static_cast<std::byte*>(arena);
    for (std::size_t s = 0; s < kShards; ++s) {
        auto shard = std::make_unique<Shard>(static_cast<std::uint32_t>(s * per_shard), per_shard);
        shard->free_frames.reserve(per_shard);
        for (std::uint64_t f = per_shard; f-- > 0;)
            shard->free_frames.push_back(static_cast<std::uint32_t>(s * per_shard + f));
        shards_.push_back(std::move(shard));
    }
    for (std::size_t i = 0; i < kReadAheadSlots; ++i)
        read_ahead_.push_back(std::make_unique<ReadAhead>(options_.read_ahead_options));
    sync_io_ = make_sync_io_engine();
    if (options_.read_ahead && options_.read_ahead_thread) ahead_io_ = std::make_unique<IoThread>(make_io_engine());
    if (options_.mode == WriteMode::writeback) flusher_ = std::thread([this] { flusher(); });
}

CachedStore::~CachedStore() {
    // Read-ahead first: the steps posted to its thread end at once, and its loads in flight
    // finish, before the pages and the arena go.
    closing_.store(true, std::memory_order_relaxed);
    ahead_io_.reset();
    if (flusher_.joinable()) {
        if (auto ec = sync()) spdlog::error("{}: writing back dirty pages failed: {}", describe(), ec.message());
        {
            std::lock_guard lock(flush_mutex_);
            stopping_ = true;
        }
        flush_wake_.notify_all();
        flusher_.join();
    }
    ::munmap(arena_, frames_ * kPageBytes);
}

std::string CachedStore::describe() const {
    return fmt::format("{} (cache={}, cache_size={})", store_->describe(),
                       options_.mode == WriteMode::writeback ? "writeback" : "writethrough",
                       format_exact_size(frames_ * kPageBytes));
}

CachedStore::Shard& CachedStore::shard_of(std::uint64_t page) const {
    const std::uint64_t run = page / kPagesPerShardRun;
    return *shards_[(run * 0x9e3779b97f4a7c15ull) >> 60];
}

std::uint64_t CachedStore::page_end(std::uint64_t page) const {
    return std::min((page + 1) * kPageBytes, store_->size_bytes());
}

std::byte* CachedStore::frame(std::uint32_t index) const { return arena_ + std::uint64_t{index} * kPageBytes; }

ReadAhead& CachedStore::read_ahead_for(const IoEngine& io, std::uint8_t& slot) {
    slot = static_cast<std::uint8_t>((reinterpret_cast<std::uintptr_t>(&io) >> 6) % kReadAheadSlots);
    return *read_ahead_[slot];
}

// ---- frames (shard lock held) ----

bool CachedStore::may_evict(Shard& shard, std::uint64_t page) const {
    const Page* e = shard.find(page);
    return !e || (!e->loading && e->pins == 0 && !e->dirty && !e->flushing);
}

void CachedStore::drop(Shard& shard, std::uint64_t page, bool evicted) {
    Page* e = shard.find(page);
    if (!e) return;
    if (e->ahead && evicted) read_ahead_[e->ahead_slot]->wasted(page * kPageBytes, page_end(page) - page * kPageBytes);
    shard.free_frames.push_back(e->frame);
    shard.erase(page);
    if (evicted)
        ++shard.evictions;
    else
        shard.policy.erase(page);
}

CachedStore::Page* CachedStore::admit(Shard& shard, std::uint64_t page) {
    // 2Q picks a victim, when one must go, among the pages that may (not pinned, loading, dirty
    // or being written back).
    auto admission = shard.policy.admit(page, [&](std::uint64_t k) { return may_evict(shard, k); });
    if (!admission.admitted) return nullptr;
    if (admission.evicted) drop(shard, *admission.evicted, true);
    if (shard.free_frames.empty()) {  // the policy made room, so there is a frame; be safe anyway
        shard.policy.erase(page);
        return nullptr;
    }
    auto& e = shard.insert(page, shard.free_frames.back());
    shard.free_frames.pop_back();
    return &e;
}

// The page at the store's end lies partly past it. Once the store grows (resize) those bytes read
// as zeros, so whatever fills the page's frame with less than a page zeroes the rest: a former
// page's bytes must not show there.
void CachedStore::zero_tail(const Page& e, std::uint64_t filled) const {
    if (filled < kPageBytes) std::memset(frame(e.frame) + filled, 0, kPageBytes - filled);
}

// A page whose bytes may no longer be the store's: forgotten now, or once what holds it lets go.
void CachedStore::invalidate_locked(Shard& shard, std::uint64_t page) {
    Page* found = shard.find(page);
    if (!found) return;
    auto& e = *found;
    if (e.dirty) {
        e.dirty = false;
        shard.dirty.erase(page);
        dirty_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (e.loading || e.pins > 0 || e.flushing)
        e.stale = true;
    else
        drop(shard, page, false);
}

void CachedStore::invalidate(std::uint64_t first_page, std::uint64_t end_page) {
    for (auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        if (end_page - first_page > shard->resident()) {
            std::vector<std::uint64_t> victims;
            shard->index.for_each([&](std::uint64_t page, std::uint32_t) {
                if (page >= first_page && page < end_page) victims.push_back(page);
            });
            for (auto page : victims) invalidate_locked(*shard, page);
        } else {
            for (std::uint64_t page = first_page; page < end_page; ++page)
                if (&shard_of(page) == shard.get()) invalidate_locked(*shard, page);
        }
    }
}

void CachedStore::unpin(std::uint64_t page) {
    auto& shard = shard_of(page);
    std::lock_guard lock(shard.mutex);
    Page* found = shard.find(page);
    if (!found) return;
    auto& e = *found;
    if (--e.pins == 0 && e.stale && !e.loading && !e.flushing) drop(shard, page, false);
}

// ---- reads ----

namespace {

void copy_overlap(CachedStore::ReadJob* job, std::uint64_t at, const std::byte* data, std::uint64_t n) {
    const auto [start, end] = overlap(job->offset, job->dst.size(), at, n);
    if (start < end) std::memcpy(job->dst.data() + (start - job->offset), data + (start - at), end - start);
}

void part_done(CachedStore::ReadJob* job, std::error_code ec) {
    if (ec) job->error.store(ec.value(), std::memory_order_relaxed);
    if (job->parts.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    job->io->post([job] {
        const int error = job->error.load(std::memory_order_relaxed);
        auto done = std::move(job->done);
        delete job;
        done(error ? std::error_code(error, std::generic_category()) : std::error_code{});
    });
}

}  // namespace

void CachedStore::read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) {
    const std::uint64_t size = store_->size_bytes();
    if (offset > size || dst.size() > size - offset) return done(std::make_error_code(std::errc::invalid_argument));
    if (dst.empty()) return done({});
    const std::uint64_t first = offset / kPageBytes;
    const std::uint64_t end = (offset + dst.size() + kPageBytes - 1) / kPageBytes;

    // The hit path: every page resident, copied under its shard's lock, no allocation.
    std::uint64_t page = first;
    {
        OneShardLock lock;
        for (; page < end; ++page) {
            Shard& shard = shard_of(page);
            lock.hold(shard.mutex);
            Page* e = shard.find(page);
            if (!e || e->loading || e->stale) break;
            hit_locked(shard, page, *e);
            const auto [start, stop] = overlap(offset, dst.size(), page * kPageBytes, kPageBytes);
            std::memcpy(dst.data() + (start - offset), frame(e->frame) + (start - page * kPageBytes), stop - start);
        }
    }
    if (page == end) {
        if (options_.read_ahead) read_ahead_after(offset, dst.size(), io);
        return done({});
    }
    auto* job = new ReadJob;
    job->offset = offset;
    job->dst = dst;
    job->io = &io;
    job->done = std::move(done);
    read_misses(job, page, end, io);  // may complete the command: use nothing of it after
    if (options_.read_ahead) read_ahead_after(offset, dst.size(), io);
}

void CachedStore::read_misses(ReadJob* job, std::uint64_t page, std::uint64_t end, IoEngine& io) {
    std::vector<Load*> loads;
    Load* run = nullptr;
    for (; page < end; ++page) {
        Shard& shard = shard_of(page);
        std::unique_lock lock(shard.mutex);
        Page* found = shard.find(page);
        bool cached = false;
        std::uint32_t frame_index = 0;
        if (found && !found->stale) {
            auto& e = *found;
            if (e.loading) {
                ++shard.misses;
                e.waiters.push_back(job);
                job->parts.fetch_add(1, std::memory_order_relaxed);
                run = nullptr;
                continue;
            }
            hit_locked(shard, page, e);
            copy_overlap(job, page * kPageBytes, frame(e.frame), page_end(page) - page * kPageBytes);
            run = nullptr;
            continue;
        }
        ++shard.misses;
        if (!found) {  // a stale page is read past the cache until it is gone
            if (auto* e = admit(shard, page)) {
                // A writethrough write in flight may land before or after this read: keep nothing.
                e->stale = shard.writing.contains(page);
                frame_index = e->frame;
                cached = true;
            }
        }
        if (!cached) bypassed_.fetch_add(1, std::memory_order_relaxed);
        lock.unlock();
        if (!run || run->count == kMaxLoadPages) {
            run = new Load;
            run->first_page = page;
            run->job = job;
            job->parts.fetch_add(1, std::memory_order_relaxed);
            loads.push_back(run);
        }
        ++run->count;
        run->cached.push_back(cached);
        run->frames.push_back(frame_index);
    }
    issue_loads(loads, io);
    part_done(job, {});
}

void CachedStore::issue_loads(std::vector<Load*>& loads, IoEngine& io) {
    for (Load* load : loads) {
        const std::uint64_t start = load->first_page * kPageBytes;
        load->end = page_end(load->first_page + load->count - 1);  // once: the store may grow meanwhile
        const std::uint64_t bytes = load->end - start;
        ReadJob* job = load->job;
        // Straight into the command's buffer when it wants exactly these pages, at an address
        // O_DIRECT takes; else through a buffer of the load's own.
        if (job && start >= job->offset && start + bytes <= job->offset + job->dst.size() &&
            reinterpret_cast<std::uintptr_t>(job->dst.data() + (start - job->offset)) % kPageBytes == 0) {
            load->into = job->dst.subspan(start - job->offset, bytes);
            load->into_job = true;
        } else if (std::find(load->cached.begin(), load->cached.end(), false) == load->cached.end()) {
            // Every page has a frame waiting (read-ahead, most misses): the store reads into the
            // frames, no buffer, no copy. Frames of loading pages are neither evicted nor reused.
            load->into_frames = true;
            load->pieces.reserve(load->count);
            for (std::uint64_t i = 0; i < load->count; ++i) {
                const std::uint64_t page = load->first_page + i;
                load->pieces.push_back(
                    {frame(load->frames[i]), std::min((page + 1) * kPageBytes, load->end) - page * kPageBytes});
            }
            store_->readv(start, load->pieces, io, [this, load](std::error_code ec) { finish_load(load, ec); });
            continue;
        } else {
            load->buffer.resize_for_overwrite(bytes);
            load->into = ByteSpan(load->buffer.data(), bytes);
        }
        store_->read(start, load->into, io, [this, load](std::error_code ec) { finish_load(load, ec); });
    }
}

void CachedStore::finish_load(Load* load, std::error_code ec) {
    for (std::uint64_t i = 0; i < load->count; ++i) {
        const std::uint64_t page = load->first_page + i;
        const std::uint64_t at = page * kPageBytes;
        const std::uint64_t n = std::min(at + kPageBytes, load->end) - at;  // what was read of it
        // A loading page's frame is its own until the page is dropped below.
        const std::byte* data = load->into_frames ? frame(load->frames[i]) : load->into.data() + i * kPageBytes;
        if (load->job && !load->into_job && !ec) copy_overlap(load->job, at, data, n);
        if (!load->cached[i]) continue;
        std::vector<ReadJob*> waiters;
        {
            Shard& shard = shard_of(page);
            std::lock_guard lock(shard.mutex);
            Page* found = shard.find(page);
            if (!found) continue;  // cannot happen: loading pages stay
            auto& e = *found;
            waiters.swap(e.waiters);
            if (!ec)  // before a drop may give the frame to another page
                for (ReadJob* waiter : waiters) copy_overlap(waiter, at, data, n);
            if (ec || (e.stale && e.pins == 0)) {
                drop(shard, page, false);
            } else {
                if (!load->into_frames) std::memcpy(frame(e.frame), data, n);
                zero_tail(e, n);
                e.loading = false;
                e.ahead = load->ahead;
                e.ahead_slot = load->ahead_slot;
            }
        }
        for (ReadJob* waiter : waiters) part_done(waiter, ec);
    }
    if (load->job) part_done(load->job, ec);
    delete load;
}

void CachedStore::read_ahead_after(std::uint64_t offset, std::uint64_t length, IoEngine& io) {
    std::uint8_t slot = 0;
    auto range = read_ahead_for(io, slot).advise(offset, length, store_->size_bytes());
    if (!range) return;
    // Admitting a window's pages (up to a thousand frames to find) is read-ahead's thread's work;
    // without one, it waits until the command that asked has been answered: posted behind it.
    IoEngine& engine = ahead_io_ ? *ahead_io_ : io;
    engine.post(
        [this, from = range->offset, bytes = range->length, slot, &engine] { read_ahead(from, bytes, slot, engine); });
}

void CachedStore::read_ahead(std::uint64_t offset, std::uint64_t length, std::uint8_t slot, IoEngine& io) {
    if (closing_.load(std::memory_order_relaxed)) return;
    std::vector<Load*> loads;
    Load* run = nullptr;
    const std::uint64_t end = (offset + length + kPageBytes - 1) / kPageBytes;
    // A load's worth of pages at a time, that load issued at once and the rest of the window
    // posted behind: the store starts reading sooner, and without a thread of its own a command
    // on the same reactor waits for one step, never for a whole window (a thousand frames).
    const std::uint64_t step_end = std::min(end, offset / kPageBytes + kMaxLoadPages);
    std::uint64_t page = offset / kPageBytes;
    bool no_frame = false;
    OneShardLock lock;
    for (; page < step_end; ++page) {
        Shard& shard = shard_of(page);
        lock.hold(shard.mutex);
        const bool resident = shard.index.contains(page);
        Page* e = resident ? nullptr : admit(shard, page);
        if (!e) {  // resident already, or no frame may go: read ahead no further than this
            if (!resident) {
                no_frame = true;
                break;
            }
            run = nullptr;
            continue;
        }
        e->stale = shard.writing.contains(page);
        if (!run) {
            run = new Load;
            run->first_page = page;
            run->ahead = true;
            run->ahead_slot = slot;
            loads.push_back(run);
        }
        ++run->count;
        run->cached.push_back(true);
        run->frames.push_back(e->frame);
    }
    lock.release();
    issue_loads(loads, io);
    if (no_frame || page >= end) return;
    const std::uint64_t next = page * kPageBytes;
    io.post([this, next, rest = offset + length - next, slot, &io] { read_ahead(next, rest, slot, io); });
}

// A command found `page` resident (shard lock held): the policy and the counters hear of it, and
// read-ahead that brought it in was used.
void CachedStore::hit_locked(Shard& shard, std::uint64_t page, Page& e) {
    shard.policy.touch(page);
    ++shard.hits;
    if (e.ahead) {
        e.ahead = false;
        read_ahead_[e.ahead_slot]->used(page_end(page) - page * kPageBytes);
    }
}

// Pins a resident page for a transfer (shard lock held); null when it is not resident as it is.
const std::byte* CachedStore::pin_locked(Shard& shard, std::uint64_t page) {
    Page* e = shard.find(page);
    if (!e || e->loading || e->stale) return nullptr;
    hit_locked(shard, page, *e);
    ++e->pins;
    return frame(e->frame);
}

// What a read lent in several pages holds: the pieces the transport sends, and the pins.
struct CachedStore::Lending {
    CachedStore* cache = nullptr;
    std::uint64_t first = 0, end = 0;  // pages pinned
    std::vector<ConstByteSpan> pieces;
};

backstore::Backstore::Lent CachedStore::lend(std::uint64_t offset, std::uint64_t length, IoEngine& io) {
    const std::uint64_t size = store_->size_bytes();
    if (length == 0 || offset > size || length > size - offset) return {};
    const std::uint64_t first = offset / kPageBytes;
    const std::uint64_t end = (offset + length + kPageBytes - 1) / kPageBytes;
    Lent lent;
    if (end - first == 1) {  // one page: no allocation, the pointer is the data
        Shard& shard = shard_of(first);
        std::lock_guard lock(shard.mutex);
        const std::byte* base = pin_locked(shard, first);
        if (!base) return {};
        lent.data = base + (offset - first * kPageBytes);
        lent.hold = Hold([this, first] { unpin(first); });
    } else {
        auto* lending = new Lending{this, first, first, {}};
        lending->pieces.reserve(end - first);
        OneShardLock lock;
        for (std::uint64_t page = first; page < end; ++page) {
            Shard& shard = shard_of(page);
            lock.hold(shard.mutex);
            const std::byte* base = pin_locked(shard, page);
            if (!base) break;
            lending->end = page + 1;
            const auto [start, stop] = overlap(offset, length, page * kPageBytes, kPageBytes);
            lending->pieces.emplace_back(base + (start - page * kPageBytes), stop - start);
        }
        lock.release();
        auto release = [lending] {
            for (std::uint64_t page = lending->first; page < lending->end; ++page) lending->cache->unpin(page);
            delete lending;
        };
        if (lending->end != end) {  // a page is missing: the command reads, and copies, instead
            release();
            return {};
        }
        lent.pieces = lending->pieces;
        lent.hold = Hold(std::move(release));
    }
    lent_.fetch_add(1, std::memory_order_relaxed);
    if (options_.read_ahead) read_ahead_after(offset, length, io);
    return lent;
}

// ---- writes ----

void CachedStore::write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) {
    const std::uint64_t size = store_->size_bytes();
    // What the store refuses (read-only, out of range) it refuses before the cache changes.
    if (store_->read_only() || offset > size || src.size() > size - offset || src.empty())
        return store_->write(offset, src, fua, io, std::move(done));
    if (options_.mode == WriteMode::writethrough) return write_through(offset, src, fua, io, std::move(done));
    auto* job = new WriteJob;
    job->offset = offset;
    job->src = src;
    job->fua = fua;
    job->io = &io;
    job->done = std::move(done);
    write_back(job);
}

void CachedStore::write_through(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) {
    const std::uint64_t first = offset / kPageBytes;
    const std::uint64_t end = (offset + src.size() + kPageBytes - 1) / kPageBytes;
    for (std::uint64_t page = first; page < end; ++page) {
        Shard& shard = shard_of(page);
        std::lock_guard lock(shard.mutex);
        const bool alone = ++shard.writing[page] == 1;
        const std::uint64_t at = page * kPageBytes;
        const auto [start, stop] = overlap(offset, src.size(), at, kPageBytes);
        Page* e = shard.find(page);
        if (e && e->loading) {
            e->stale = true;  // its read may see the store before or after this write
            continue;
        }
        if (!e && alone && start == at && stop == page_end(page)) {
            e = admit(shard, page);  // cache what is written whole
            if (e) zero_tail(*e, stop - at);
        }
        if (!e || e->stale) continue;
        e->loading = false;
        if (!alone) e->overlapped = true;  // which of two overlapping writes lands last is the store's to say
        std::memcpy(frame(e->frame) + (start - at), src.data() + (start - offset), stop - start);
        shard.policy.touch(page);
    }
    store_->write(offset, src, fua, io, [this, first, end, done = std::move(done)](std::error_code ec) {
        for (std::uint64_t page = first; page < end; ++page) {
            Shard& shard = shard_of(page);
            std::lock_guard lock(shard.mutex);
            auto w = shard.writing.find(page);
            const bool last = --w->second == 0;
            if (last) shard.writing.erase(w);
            Page* e = shard.find(page);
            if (!e || e->loading) continue;
            // A failed write leaves the store's bytes unknown; overlapping writes, which landed last.
            if (ec || (last && e->overlapped)) invalidate_locked(shard, page);
        }
        done(ec);
    });
}

void CachedStore::write_back(WriteJob* job) {
    const std::uint64_t first = job->offset / kPageBytes;
    const std::uint64_t end = (job->offset + job->src.size() + kPageBytes - 1) / kPageBytes;
    const std::uint64_t pages = end - first;
    auto wait_for_flusher = [&] {
        throttled_.fetch_add(1, std::memory_order_relaxed);
        {
            std::lock_guard lock(flush_mutex_);
            throttled_jobs_.push_back(job);
            kicked_ = true;
        }
        flush_wake_.notify_one();
    };
    if (dirty_.load(std::memory_order_relaxed) + pages > dirty_limit_ && dirty_.load(std::memory_order_relaxed) > 0)
        return wait_for_flusher();

    // Pages written in part must hold the store's bytes first, and a page being loaded must be
    // loaded before it is written: read such a page through the cache, then try again.
    auto needs_load = [&](std::uint64_t page) {
        Shard& shard = shard_of(page);
        std::lock_guard lock(shard.mutex);
        if (const Page* e = shard.find(page)) return e->loading || e->stale;
        const std::uint64_t at = page * kPageBytes;
        const auto [start, stop] = overlap(job->offset, job->src.size(), at, kPageBytes);
        return start != at || stop != page_end(page);
    };
    for (const std::uint64_t page : {first, end - 1}) {  // only the edges can be written in part
        if (!needs_load(page)) continue;
        if (++job->attempts > 8) return wait_for_flusher();  // frames all busy: let the flusher free some
        const std::uint64_t at = page * kPageBytes;
        job->scratch.resize_for_overwrite(page_end(page) - at);
        return read(at, ByteSpan(job->scratch.data(), job->scratch.size()), *job->io, [this, job](std::error_code ec) {
            if (ec) {
                auto done = std::move(job->done);
                delete job;
                return done(ec);
            }
            write_back(job);
        });
    }

    std::uint64_t newly_dirty = 0;
    for (std::uint64_t page = first; page < end; ++page) {
        Shard& shard = shard_of(page);
        std::unique_lock lock(shard.mutex);
        Page* e = shard.find(page);
        const std::uint64_t at = page * kPageBytes;
        const auto [start, stop] = overlap(job->offset, job->src.size(), at, kPageBytes);
        if (!e && start == at && stop == page_end(page)) {
            e = admit(shard, page);
            if (e) {
                e->loading = false;
                zero_tail(*e, stop - at);
            }
        }
        if (!e || e->loading || e->stale) {
            // Evicted or being read since it was checked, or no frame may go: the rest, from
            // this page on, goes again (what is written so far stays written).
            const bool no_frame = !e && start == at && stop == page_end(page);
            lock.unlock();
            account_dirty(newly_dirty);
            job->src = job->src.subspan(start - job->offset);
            job->offset = start;
            if (no_frame) return wait_for_flusher();
            return write_back(job);
        }
        std::memcpy(frame(e->frame) + (start - at), job->src.data() + (start - job->offset), stop - start);
        ++e->generation;
        if (!e->dirty) {
            e->dirty = true;
            shard.dirty.insert(page);
            ++newly_dirty;
        }
        shard.policy.touch(page);
    }
    account_dirty(newly_dirty);
    auto done = std::move(job->done);
    const bool fua = job->fua;
    IoEngine& io = *job->io;
    delete job;
    if (fua) return barrier(io, std::move(done));  // durable before its status goes out
    done({});
}

void CachedStore::account_dirty(std::uint64_t newly_dirty) {
    if (newly_dirty == 0) return;
    if (dirty_.fetch_add(newly_dirty, std::memory_order_relaxed) + newly_dirty > dirty_limit_ / 2) kick_flusher();
}

void CachedStore::kick_flusher() {
    {
        std::lock_guard lock(flush_mutex_);
        kicked_ = true;
    }
    flush_wake_.notify_one();
}

// ---- flushing ----

void CachedStore::flush(IoEngine& io, IoCallback done) {
    if (options_.mode == WriteMode::writethrough) return store_->flush(io, std::move(done));
    barrier(io, std::move(done));
}

void CachedStore::barrier(IoEngine& io, IoCallback done) {
    {
        std::lock_guard lock(flush_mutex_);
        barriers_.push_back(Barrier{next_ticket_++, &io, std::move(done)});
    }
    flush_wake_.notify_one();
}

std::error_code CachedStore::sync() {
    std::promise<std::error_code> promise;
    auto result = promise.get_future();
    // sync_io_ runs what is posted to it at once, on the thread that completes the flush.
    flush(*sync_io_, [&promise](std::error_code ec) { promise.set_value(ec); });
    return result.get();
}

void CachedStore::flusher() {
    std::unique_lock lock(flush_mutex_);
    for (;;) {
        flush_wake_.wait_for(lock, options_.flush_interval,
                             [&] { return stopping_ || kicked_ || !barriers_.empty() || !throttled_jobs_.empty(); });
        kicked_ = false;
        const bool stop = stopping_;
        const std::uint64_t served = next_ticket_;  // barriers asked before this pass began
        const bool any_barrier = !barriers_.empty();
        lock.unlock();

        std::uint64_t written = 0;
        std::error_code ec = flush_pass(written);
        if (!ec && any_barrier) {
            std::promise<std::error_code> flushed;
            store_->flush(*sync_io_, [&flushed](std::error_code e) { flushed.set_value(e); });
            ec = flushed.get_future().get();
        }
        if (ec) spdlog::warn("{}: writing back dirty pages failed: {}", store_->describe(), ec.message());

        lock.lock();
        std::vector<Barrier> answered;
        auto split = std::stable_partition(barriers_.begin(), barriers_.end(),
                                           [&](const Barrier& b) { return b.ticket >= served; });
        std::move(split, barriers_.end(), std::back_inserter(answered));
        barriers_.erase(split, barriers_.end());
        std::vector<WriteJob*> resumed;
        if (ec || dirty_.load(std::memory_order_relaxed) < dirty_limit_) resumed.swap(throttled_jobs_);
        lock.unlock();

        for (auto& b : answered) b.io->post([done = std::move(b.done), ec] { done(ec); });
        // A failed write-back fails the writes waiting for room (their data cannot be taken);
        // the dirty pages stay dirty and are tried again next pass.
        if (!resumed.empty() && !ec && written == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        for (WriteJob* job : resumed) {
            job->attempts = 0;
            if (ec) {
                job->io->post([job, ec] {
                    auto done = std::move(job->done);
                    delete job;
                    done(ec);
                });
            } else {
                job->io->post([this, job] { write_back(job); });
            }
        }
        lock.lock();
        if (stop && (dirty_.load(std::memory_order_relaxed) == 0 || ec)) return;
    }
}

std::error_code CachedStore::flush_pass(std::uint64_t& written) {
    std::vector<std::uint64_t> pages;
    for (auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        for (auto page : shard->dirty) {
            shard->find(page)->flushing = true;  // pinned until written: not evicted, not dropped
            pages.push_back(page);
        }
    }
    std::sort(pages.begin(), pages.end());
    std::error_code first_error;
    std::vector<std::uint64_t> generations;
    ByteBuffer buffer;
    for (std::size_t i = 0; i < pages.size();) {
        // A run of neighbouring dirty pages, up to kMaxFlushBytes: one backstore write.
        std::size_t n = 1;
        while (i + n < pages.size() && pages[i + n] == pages[i] + n && n < kMaxLoadPages) ++n;
        const std::uint64_t start = pages[i] * kPageBytes;
        std::uint64_t bytes = 0;
        buffer.resize_for_overwrite(n * kPageBytes);
        generations.assign(n, 0);
        for (std::size_t k = 0; k < n; ++k) {
            const std::uint64_t page = pages[i + k];
            Shard& shard = shard_of(page);
            std::lock_guard lock(shard.mutex);
            auto& e = *shard.find(page);
            generations[k] = e.generation;  // the copy is of this write, or a later one's
            // The page's length read with its generation: a write past a grown store's old end
            // that the generation counts is in the copy.
            const std::uint64_t length = page_end(page) - page * kPageBytes;
            std::memcpy(buffer.data() + k * kPageBytes, frame(e.frame), length);
            bytes = k * kPageBytes + length;  // only the page at the store's end is short, and it is last
        }
        std::error_code ec;
        store_->write(start, ConstByteSpan(buffer.data(), bytes), false, *sync_io_,
                      [&ec](std::error_code e) { ec = e; });
        if (!ec) {
            flushes_.fetch_add(1, std::memory_order_relaxed);
            flushed_bytes_.fetch_add(bytes, std::memory_order_relaxed);
            written += n;
        } else if (!first_error) {
            first_error = ec;
        }
        std::uint64_t cleaned = 0;
        for (std::size_t k = 0; k < n; ++k) {
            const std::uint64_t page = pages[i + k];
            Shard& shard = shard_of(page);
            std::lock_guard lock(shard.mutex);
            Page* found = shard.find(page);
            if (!found) continue;
            auto& e = *found;
            e.flushing = false;
            // Written again since the copy was taken: still dirty, for the next pass.
            if (!ec && e.dirty && e.generation == generations[k]) {
                e.dirty = false;
                shard.dirty.erase(page);
                ++cleaned;
            }
            if (e.stale && e.pins == 0) drop(shard, page, false);
        }
        dirty_.fetch_sub(cleaned, std::memory_order_relaxed);
        i += n;
    }
    return first_error;
}

// ---- the rest of the store's interface ----

// The cache keeps no size of its own: every check asks the store, which publishes a new size only
// once it has the blocks. The page at the old end stays valid: its frame holds zeros past that end
// (zero_tail), which is what the grown store reads there, and loads and write-backs take the
// length of such a page once, so one in flight across the resize copies only what it read.
Result<void> CachedStore::resize(std::uint64_t new_size_bytes) { return store_->resize(new_size_bytes); }

void CachedStore::unmap(std::uint64_t offset, std::uint64_t length, IoEngine& io, IoCallback done) {
    const std::uint64_t size = store_->size_bytes();
    if (store_->read_only() || offset > size || length > size - offset || length == 0)
        return store_->unmap(offset, length, io, std::move(done));
    const std::uint64_t first = offset / kPageBytes;
    const std::uint64_t end = (offset + length + kPageBytes - 1) / kPageBytes;
    // Unmapped blocks read as zeros: no cached copy (clean, or dirty and never to be written back)
    // may outlive the store's change, nor a load that raced with it.
    auto unmap_now = [this, offset, length, first, end, &io, done = std::move(done)](std::error_code ec) mutable {
        if (ec) return done(ec);
        invalidate(first, end);
        store_->unmap(offset, length, io, [this, first, end, done = std::move(done)](std::error_code e) {
            invalidate(first, end);
            done(e);
        });
    };
    if (options_.mode == WriteMode::writeback) return barrier(io, std::move(unmap_now));
    unmap_now({});
}

// Write-back: a dirty page holds data the store has not got yet, so its blocks are mapped
// whatever the store says (a write into a hole reads back: GET LBA STATUS must not call it
// deallocated, or a copy that skips deallocated ranges loses it). The dirty pages are looked at
// before the store is asked: one written back in between is mapped in the store by then.
tl::expected<backstore::Backstore::Provisioning, std::error_code> CachedStore::provisioning(
    std::uint64_t offset, std::uint64_t max_length) const {
    const std::uint64_t size = store_->size_bytes();  // once: the store may grow meanwhile
    if (options_.mode != WriteMode::writeback || offset >= size) return store_->provisioning(offset, max_length);
    const std::uint64_t first = offset / kPageBytes;
    const std::uint64_t end = (offset + std::min(max_length, size - offset) + kPageBytes - 1) / kPageBytes;
    auto is_dirty = [this](std::uint64_t page) {
        Shard& shard = shard_of(page);
        std::lock_guard lock(shard.mutex);
        return shard.dirty.contains(page);
    };
    std::optional<std::uint64_t> first_dirty;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        auto it = shard->dirty.lower_bound(first);
        if (it != shard->dirty.end() && *it < end && (!first_dirty || *it < *first_dirty)) first_dirty = *it;
    }
    std::uint64_t dirty_end = 0;  // where the run of dirty pages at `offset` ends, if it starts there
    if (first_dirty && *first_dirty == first) {
        std::uint64_t page = first + 1;
        while (page < end && is_dirty(page)) ++page;
        dirty_end = std::min(page * kPageBytes, size);
    }
    auto extent = store_->provisioning(offset, max_length);
    if (!extent || extent->mapped || !first_dirty) return extent;
    if (dirty_end > offset) return Provisioning{true, std::min(dirty_end - offset, extent->length)};
    const std::uint64_t dirty_at = *first_dirty * kPageBytes;
    if (dirty_at < offset + extent->length) extent->length = dirty_at - offset;  // the hole ends there
    return extent;
}

CacheStats CachedStore::stats() const {
    CacheStats s;
    s.pages = frames_;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        s.resident += shard->resident();
        s.hits += shard->hits;
        s.misses += shard->misses;
        s.evictions += shard->evictions;
    }
    s.lent = lent_.load(std::memory_order_relaxed);
    s.bypassed = bypassed_.load(std::memory_order_relaxed);
    s.dirty = dirty_.load(std::memory_order_relaxed);
    s.flushes = flushes_.load(std::memory_order_relaxed);
    s.flushed_bytes = flushed_bytes_.load(std::memory_order_relaxed);
    s.throttled = throttled_.load(std::memory_order_relaxed);
    for (const auto& ra : read_ahead_) {
        const auto r = ra->stats();
        s.read_ahead.issued_bytes += r.issued_bytes;
        s.read_ahead.used_bytes += r.used_bytes;
        s.read_ahead.wasted_bytes += r.wasted_bytes;
    }
    return s;
}

std::string format_stats(const CacheStats& s) {
    const std::uint64_t lookups = s.hits + s.misses;
    return fmt::format(
        "{} pages, {} resident, {} dirty; hits {} misses {} ({:.1f}% hits), lent {}, bypassed {}, evictions {}; "
        "read-ahead issued {} used {} wasted {}; flushes {} ({} bytes), throttled writes {}",
        s.pages, s.resident, s.dirty, s.hits, s.misses,
        lookups ? 100.0 * static_cast<double>(s.hits) / static_cast<double>(lookups) : 0.0, s.lent, s.bypassed,
        s.evictions, s.read_ahead.issued_bytes, s.read_ahead.used_bytes, s.read_ahead.wasted_bytes, s.flushes,
        s.flushed_bytes, s.throttled);
}

}  // namespace iscsikit::cache
