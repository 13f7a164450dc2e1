// The target's block cache (issue 9): a Backstore in front of another one (a file or block device
// opened with O_DIRECT, so no block is cached twice), holding the LU's hot blocks in pages of our
// own. DESIGN.md's step 2 and 3 of a READ: look the blocks up, start read-ahead, read what is
// missing into cache pages; step 4 sends Data-In straight from a pinned page (lend).
//
// - Pages of kPageBytes, in one arena allocated at start (so the cache's memory is bounded), split
//   into shards by page number; each shard has its own mutex, page table and 2Q policy
//   (two_queue.hpp), so sessions on every reactor share a LU's cache with no global lock.
// - A page is `loading` while one backstore read fills it; every other command that wants it
//   waits for that read (concurrent misses on one page cost one read). A waiter on another
//   reactor is woken on its own (IoEngine::post).
// - Read-ahead (read_ahead.hpp) loads what a sequential stream will read next, on a thread of the
//   LU's own (core/io_thread.hpp): admitting a window's pages, issuing their reads and finishing
//   them takes no time from the reactor that serves the stream's commands.
// - writethrough: a write goes to the store; the pages it covers whole are cached as written,
//   those it covers in part are updated when resident. Status after the store has the data.
// - writeback: a write lands in pages marked dirty (a page it covers in part is read first) and
//   completes. A flusher thread writes dirty pages back, neighbours coalesced into writes of up
//   to kMaxFlushBytes, when the dirty count passes half the dirty limit and every
//   `flush_interval`; writers wait when the dirty limit is reached. flush() (SYNCHRONIZE CACHE)
//   and FUA writes complete only once everything dirty before them is written and the store
//   flushed.
// Thread-safe; callbacks run on the caller's reactor (the IoEngine passed in).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backstore/backstore.hpp"
#include "cache/read_ahead.hpp"

namespace iscsikit::cache {

inline constexpr std::uint32_t kPageBytes = 4096;
inline constexpr std::uint64_t kMaxFlushBytes = std::uint64_t{1} << 20;

enum class WriteMode : std::uint8_t { writethrough, writeback };

struct CacheOptions {
    WriteMode mode = WriteMode::writethrough;
    std::uint64_t size_bytes = std::uint64_t{256} << 20;  // the pages' memory
    // writeback: at most this share of the pages dirty at once (writers wait beyond it).
    double dirty_share = 0.5;
    std::chrono::milliseconds flush_interval{1000};  // writeback: dirty pages wait at most ~this long
    bool read_ahead = true;
    // Read-ahead on a thread of its own (else on the reactor of the command that triggered it;
    // unit tests use that for determinism).
    bool read_ahead_thread = true;
    ReadAheadOptions read_ahead_options{};
};

struct CacheStats {
    std::uint64_t pages = 0;     // frames
    std::uint64_t resident = 0;  // pages holding data
    std::uint64_t hits = 0;      // pages found resident by a command
    std::uint64_t misses = 0;    // pages a command had to read (or wait for)
    std::uint64_t lent = 0;      // reads served by lending a page (no copy)
    std::uint64_t bypassed = 0;  // pages read past the cache (every frame pinned or dirty)
    std::uint64_t evictions = 0;
    std::uint64_t dirty = 0;          // pages dirty now
    std::uint64_t flushes = 0;        // backstore writes of dirty pages
    std::uint64_t flushed_bytes = 0;  // what they wrote
    std::uint64_t throttled = 0;      // writes that waited for the dirty limit
    ReadAheadStats read_ahead;
};

class CachedStore final : public backstore::Backstore {
public:
    // `store` should be opened with O_DIRECT (Options::direct) so no block is cached twice.
    CachedStore(std::unique_ptr<backstore::Backstore> store, const CacheOptions& options);
    // Writes back everything dirty, then stops the flusher.
    ~CachedStore() override;
    CachedStore(const CachedStore&) = delete;
    CachedStore& operator=(const CachedStore&) = delete;

    std::string describe() const override;
    std::uint64_t size_bytes() const override { return store_->size_bytes(); }
    std::uint32_t block_size() const override { return store_->block_size(); }
    bool read_only() const override { return store_->read_only(); }
    Result<void> resize(std::uint64_t new_size_bytes) override;

    void read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) override;
    void write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) override;
    void flush(IoEngine& io, IoCallback done) override;
    Lent lend(std::uint64_t offset, std::uint64_t length, IoEngine& io) override;
    void unmap(std::uint64_t offset, std::uint64_t length, IoEngine& io, IoCallback done) override;
    tl::expected<Provisioning, std::error_code> provisioning(std::uint64_t offset,
                                                             std::uint64_t max_length) const override;

    CacheStats stats() const;
    const CacheOptions& options() const { return options_; }
    // Blocks until everything dirty now is written back and the store flushed (shutdown).
    std::error_code sync();

    struct Shard;
    struct ReadJob;
    struct WriteJob;
    struct Load;
    struct Page;
    struct Lending;

private:
    Shard& shard_of(std::uint64_t page) const;
    std::uint64_t page_end(std::uint64_t page) const;  // byte end of a page, clipped to the store
    std::byte* frame(std::uint32_t index) const;
    ReadAhead& read_ahead_for(const IoEngine& io, std::uint8_t& slot);
    // With the shard's lock held:
    bool may_evict(Shard& shard, std::uint64_t page) const;
    void drop(Shard& shard, std::uint64_t page, bool evicted);
    Page* admit(Shard& shard, std::uint64_t page);              // a frame for `page`, or null when none may go
    void zero_tail(const Page& e, std::uint64_t filled) const;  // zeros after the first `filled` bytes
    void invalidate_locked(Shard& shard, std::uint64_t page);
    void hit_locked(Shard& shard, std::uint64_t page, Page& e);
    const std::byte* pin_locked(Shard& shard, std::uint64_t page);

    void read_misses(ReadJob* job, std::uint64_t page, std::uint64_t end, IoEngine& io);
    void issue_loads(std::vector<Load*>& loads, IoEngine& io);
    void finish_load(Load* load, std::error_code ec);
    // Tells the stream detector of a read; what it asks to read ahead, read_ahead does, posted.
    void read_ahead_after(std::uint64_t offset, std::uint64_t length, IoEngine& io);
    void read_ahead(std::uint64_t offset, std::uint64_t length, std::uint8_t slot, IoEngine& io);
    void write_through(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done);
    void write_back(WriteJob* job);
    void account_dirty(std::uint64_t newly_dirty);
    void kick_flusher();
    void barrier(IoEngine& io, IoCallback done);
    void unpin(std::uint64_t page);
    void invalidate(std::uint64_t first_page, std::uint64_t end_page);
    void flusher();
    std::error_code flush_pass(std::uint64_t& written);  // writes back every page dirty when it starts

    std::unique_ptr<backstore::Backstore> store_;
    CacheOptions options_;
    std::uint64_t frames_ = 0;
    std::uint64_t dirty_limit_ = 0;
    std::byte* arena_ = nullptr;
    std::vector<std::unique_ptr<Shard>> shards_;
    std::vector<std::unique_ptr<ReadAhead>> read_ahead_;
    std::unique_ptr<IoEngine> sync_io_;   // the flusher's (blocking) and sync()'s
    std::unique_ptr<IoEngine> ahead_io_;  // read-ahead's thread (IoThread), when it has one
    std::atomic<bool> closing_{false};    // the destructor runs: read-ahead stops
    std::atomic<std::uint64_t> dirty_{0};
    std::atomic<std::uint64_t> lent_{0}, bypassed_{0}, flushes_{0}, flushed_bytes_{0}, throttled_{0};

    // writeback: the flusher thread and what it is asked
    std::mutex flush_mutex_;
    std::condition_variable flush_wake_;
    struct Barrier {
        std::uint64_t ticket;
        IoEngine* io;
        IoCallback done;
    };
    std::vector<Barrier> barriers_;          // guarded by flush_mutex_
    std::vector<WriteJob*> throttled_jobs_;  // guarded by flush_mutex_
    std::uint64_t next_ticket_ = 0;          // guarded by flush_mutex_
    bool stopping_ = false, kicked_ = false;
    std::thread flusher_;
};

// One line for the log (SIGUSR1): every counter.
std::string format_stats(const CacheStats& stats);

}  // namespace iscsikit::cache
