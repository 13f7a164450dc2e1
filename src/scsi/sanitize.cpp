// SANITIZE (SBC-3 §5.30; the sanitize model is SBC-4 §4.11): OVERWRITE writes the initialization
// pattern over every block, OVERWRITE COUNT times; BLOCK ERASE and CRYPTOGRAPHIC ERASE (emulated:
// there is no media key to change) deallocate every block of a thin LU, which then reads zeros;
// EXIT FAILURE MODE leaves the failure of a sanitize that allowed it (AUSE). The operation runs
// as one job, one backstore call at a time in chunks of bounded size, then a flush: with IMMED the
// command answers GOOD once its CDB and parameter list are checked and the job runs on. Until it
// ends the dispatcher turns other commands away with NOT READY, SANITIZE IN PROGRESS and its
// progress (logical_unit.cpp); resets and aborts do not stop it. An LU's sanitize_rate paces the
// overwrite's writes, with the engine's timer between chunks, so that it leaves the disk to others.
#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>

#include "core/byte_buffer.hpp"
#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

constexpr std::uint8_t kOverwrite = 0x01;
constexpr std::uint8_t kExitFailureMode = 0x1f;
// The OVERWRITE parameter list: INVERT, TEST and OVERWRITE COUNT in byte 0, INITIALIZATION
// PATTERN LENGTH in bytes 2-3, then the pattern.
constexpr std::size_t kOverwriteHeaderBytes = 4;
// One deallocation call: a RAM store zeroes memory inline, so this bounds a reactor's stall.
constexpr std::uint64_t kEraseChunkBytes = 64u << 20;

struct SanitizeJob {
    LuState* lu;
    IoEngine* io;
    Command* cmd;                      // null when IMMED answered it already
    std::shared_ptr<void> keep_alive;  // the LogicalUnit, while the job outlives its command
    bool ause;
    bool erase;   // deallocate instead of writing `chunk`
    bool invert;  // invert the pattern between passes
    unsigned passes;
    ByteBuffer chunk;  // the pattern over whole blocks
    std::uint64_t capacity;
    unsigned pass = 0;
    std::uint64_t offset = 0;
    std::uint64_t step = 0;  // bytes the call in flight covers
    std::uint64_t rate = 0;  // bytes per second the overwrite may write; 0: no limit
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    bool paced = false;  // the pause before the next write is over
    bool flushed = false;
    bool submitting = false;
    bool completed_inline = false;
    std::error_code result{};
};

void invert(ByteBuffer& chunk) {
    for (std::size_t i = 0; i < chunk.size(); ++i) chunk.data()[i] = ~chunk.data()[i];
}

// Bytes of all passes done so far.
std::uint64_t covered(const SanitizeJob* job) { return std::uint64_t{job->pass} * job->capacity + job->offset; }

void publish_progress(const SanitizeJob* job) {
    const std::uint64_t total = std::uint64_t{job->passes} * job->capacity;
    const std::uint64_t done = covered(job);
    const double fraction = total == 0 ? 0.0 : static_cast<double>(done) / static_cast<double>(total);
    job->lu->sanitize_progress.store(static_cast<std::uint16_t>(std::min(fraction * 0x10000, double{0xffff})),
                                     std::memory_order_relaxed);
}

// How long to wait before the next write so that byte N goes no sooner than N / rate seconds
// after the first.
std::chrono::nanoseconds pause(const SanitizeJob* job) {
    using std::chrono::nanoseconds;
    if (job->rate == 0 || job->paced) return nanoseconds{0};
    const std::chrono::duration<double> since_start(static_cast<double>(covered(job)) / static_cast<double>(job->rate));
    const auto due = job->started + std::chrono::duration_cast<nanoseconds>(since_start);
    return std::max(nanoseconds{0}, std::chrono::duration_cast<nanoseconds>(due - std::chrono::steady_clock::now()));
}

void finish(SanitizeJob* job) {
    LuState& lu = *job->lu;
    const bool ok = !job->result;
    if (!ok) lu.health.failed(job->result, true);
    {
        // SBC-4 §4.11: a failed sanitize leaves the LU in a failure mode; AUSE says how it ends.
        std::lock_guard lock(lu.mutex);
        lu.sanitize_progress.store(0, std::memory_order_relaxed);
        const SanitizeState end = ok          ? SanitizeState::idle
                                  : job->ause ? SanitizeState::failed
                                              : SanitizeState::failed_restricted;
        lu.sanitize.store(end, std::memory_order_release);
    }
    Command* cmd = job->cmd;
    // The LogicalUnit goes, if this was its last owner, once the engine's current handler is done.
    job->io->post([keep = std::move(job->keep_alive)] {});
    delete job;
    if (cmd == nullptr) return;
    if (ok)
        good(*cmd);
    else
        fail(*cmd, Sense::sanitize_command_failed());
    complete(*cmd);
}

// Issues one store call after another until one completes asynchronously or the job is done, in
// a loop rather than recursion so that an inline store cannot deepen the stack (as WRITE SAME).
void run(SanitizeJob* job) {
    for (;;) {
        if (job->result) return finish(job);
        if (job->offset == job->capacity && job->pass + 1 < job->passes) {
            ++job->pass;
            job->offset = 0;
            if (job->invert) invert(job->chunk);
        }
        const bool more = job->offset < job->capacity;
        if (!more && job->flushed) return finish(job);
        publish_progress(job);
        job->submitting = true;
        job->completed_inline = false;
        auto done = [job](std::error_code ec) {
            job->result = ec;
            if (!ec) job->offset += job->step;
            if (job->submitting) {
                job->completed_inline = true;
                return;
            }
            run(job);
        };
        LuState& lu = *job->lu;
        const std::chrono::nanoseconds wait = more && !job->erase ? pause(job) : std::chrono::nanoseconds{0};
        if (wait.count() > 0) {
            job->paced = true;
            job->step = 0;
            job->io->after(wait, std::move(done));
        } else if (!more) {
            // What the sanitize changed is on the medium before it counts as done.
            job->flushed = true;
            job->step = 0;
            lu.store.flush(*job->io, std::move(done));
        } else if (job->erase) {
            job->step = std::min(kEraseChunkBytes, job->capacity - job->offset);
            lu.store.unmap(job->offset, job->step, *job->io, std::move(done));
        } else {
            job->paced = false;
            job->step = std::min<std::uint64_t>(job->chunk.size(), job->capacity - job->offset);
            lu.store.write(job->offset, ConstByteSpan(job->chunk.data(), static_cast<std::size_t>(job->step)), false,
                           *job->io, std::move(done));
        }
        job->submitting = false;
        if (!job->completed_inline) return;
    }
}

// The OVERWRITE parameter list (SBC-3 §5.30.2.2) checked; the pattern repeated over whole blocks
// into `chunk`, inverted for the first pass when INVERT and an even OVERWRITE COUNT (so that the
// last pass writes the pattern itself). nullopt when all is well.
std::optional<Sense> prepare_overwrite(const LuState& lu, const Command& cmd, std::size_t list_length,
                                       SanitizeJob& job) {
    if (cmd.buffer.size() < kOverwriteHeaderBytes) return Sense::parameter_list_length_error();
    const std::byte* p = cmd.buffer.data();
    const auto flags = std::to_integer<std::uint8_t>(p[0]);
    const std::size_t pattern_length = load_be16(p + 2);
    if (flags & 0x60) return Sense::invalid_field_in_parameter_list(0, 6);  // TEST: no test modes
    const unsigned count = flags & 0x1f;
    if (count == 0) return Sense::invalid_field_in_parameter_list(0, 4);
    // The pattern is not empty, fits the parameter list, and is at most one block.
    if (pattern_length == 0 || pattern_length > list_length - kOverwriteHeaderBytes || pattern_length > lu.block_size)
        return Sense::invalid_field_in_parameter_list(2);
    if (cmd.buffer.size() < kOverwriteHeaderBytes + pattern_length) return Sense::parameter_list_length_error();

    job.passes = count;
    job.invert = flags & 0x80;
    const std::uint64_t blocks = std::min<std::uint64_t>(lu.block_count(), kWriteSameChunkBytes / lu.block_size);
    job.chunk.resize(static_cast<std::size_t>(blocks * lu.block_size));
    // Each block starts with the pattern and repeats it; the last copy is cut at the block's end.
    for (std::size_t at = 0; at < job.chunk.size(); at += lu.block_size)
        for (std::size_t i = 0; i < lu.block_size; i += pattern_length)
            std::copy_n(p + kOverwriteHeaderBytes, std::min<std::size_t>(pattern_length, lu.block_size - i),
                        job.chunk.data() + at + i);
    if (job.invert && count % 2 == 0) invert(job.chunk);
    return std::nullopt;
}

}  // namespace

std::optional<Sense> sanitize_sense(const LuState& lu) {
    switch (lu.sanitize.load(std::memory_order_acquire)) {
        case SanitizeState::idle: return std::nullopt;
        case SanitizeState::in_progress:
            return Sense::sanitize_in_progress(lu.sanitize_progress.load(std::memory_order_relaxed));
        case SanitizeState::failed:
        case SanitizeState::failed_restricted: return Sense::sanitize_command_failed();
    }
    return std::nullopt;
}

Flow sanitize(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    const bool immed = c[1] & 0x80;
    const bool ause = c[1] & 0x20;
    const std::uint8_t action = c[1] & 0x1f;
    // ZNR (bit 6) is for zoned block devices; this LU is not one. Bytes 2 to 6 are reserved.
    if (c[1] & 0x40) return fail(cmd, Sense::invalid_field_in_cdb(1, 6));
    for (std::uint16_t i = 2; i <= 6; ++i)
        if (c[i] != 0) return fail(cmd, Sense::invalid_field_in_cdb(i));
    const std::size_t list_length = load_be16(&c[7]);
    // SBC-3 §5.30.1: only OVERWRITE has a parameter list: 4 bytes of header and a pattern of at
    // most one block.
    if (action == kOverwrite
            ? list_length <= kOverwriteHeaderBytes || list_length > kOverwriteHeaderBytes + lu.block_size
            : list_length != 0)
        return fail(cmd, Sense::invalid_field_in_cdb(7));

    const SanitizeState state = lu.sanitize.load(std::memory_order_acquire);
    // SBC-4 §4.11: after a sanitize that failed with AUSE 0, neither EXIT FAILURE MODE nor a
    // sanitize that would allow it (AUSE 1) is accepted; only a sanitize with AUSE 0 that succeeds.
    if (state == SanitizeState::failed_restricted) {
        if (action == kExitFailureMode) return fail(cmd, Sense::invalid_field_in_cdb(1, 4));
        if (ause) return fail(cmd, Sense::invalid_field_in_cdb(1, 5));
    }
    if (action == kExitFailureMode) {
        // Leaves the failure of a sanitize with AUSE 1; with none to leave there is nothing to do.
        std::lock_guard lock(lu.mutex);
        if (lu.sanitize.load(std::memory_order_relaxed) == SanitizeState::failed)
            lu.sanitize.store(SanitizeState::idle, std::memory_order_release);
        return good(cmd);
    }
    if (write_protected(lu, cmd)) return fail(cmd, write_protect_sense(lu, cmd));

    auto job = std::make_unique<SanitizeJob>();
    job->lu = &lu;
    job->io = &io;
    job->cmd = &cmd;
    job->ause = ause;
    job->capacity = lu.block_count() * lu.block_size;
    job->passes = 1;
    job->erase = action != kOverwrite;  // the table offers the erase methods on thin LUs only
    job->rate = lu.identity.sanitize_bytes_per_second;
    if (action == kOverwrite) {
        if (auto error = prepare_overwrite(lu, cmd, list_length, *job)) return fail(cmd, *error);
    }
    {
        std::lock_guard lock(lu.mutex);
        // Two SANITIZE commands on two reactors: the second finds the first running.
        if (lu.sanitize.load(std::memory_order_relaxed) == SanitizeState::in_progress)
            return fail(cmd, Sense::sanitize_in_progress(lu.sanitize_progress.load(std::memory_order_relaxed)));
        lu.sanitize_progress.store(0, std::memory_order_relaxed);
        lu.sanitize.store(SanitizeState::in_progress, std::memory_order_release);
    }
    cmd.buffer.clear();
    if (immed) {
        // SBC-3 §5.30.1: IMMED answers once the CDB and the parameter list are checked.
        if (lu.owner != nullptr) job->keep_alive = lu.owner->weak_from_this().lock();
        job->cmd = nullptr;
        good(cmd);
        complete(cmd);
    }
    run(job.release());
    return Flow::pending;
}

}  // namespace iscsikit::scsi::detail
