// EXTENDED COPY(LID1) (SPC-4 §6.4), the copy manager of one LU: Identification descriptor CSCD
// descriptors (E4h) that name an LU of ours, block device to block device segment descriptors
// (02h). The whole parameter list is checked, and every segment resolved and range-checked,
// before a block moves; then each segment is copied through the LU's backstore, one read then
// one write of at most kCopyChunkBytes at a time, as one job that never blocks the reactor. Only
// the LU that received the command can be a copy source or destination.
#include <algorithm>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "core/byte_buffer.hpp"
#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

// SPC-4 §6.4.3 (parameter list header): the descriptor lists start after 16 bytes.
constexpr std::size_t kHeaderBytes = 16;
// SPC-4 §6.4.5: every CSCD descriptor of types E0h-E9h (ours: E4h) is 32 bytes long.
constexpr std::size_t kCscdDescriptorBytes = 32;
constexpr std::uint8_t kIdentificationDescriptor = 0xe4;
// SPC-4 §6.4.6 (block device to block device segment descriptor): 02h, 28 bytes, whose
// DESCRIPTOR LENGTH field counts the 24 after its first four.
constexpr std::uint8_t kBlockToBlock = 0x02;
constexpr std::uint16_t kBlockToBlockLength = 0x18;
constexpr std::size_t kSegmentHeaderBytes = 4;

// SPC-4 §6.4.3 (LIST ID USAGE): 00b and 10b make the LIST IDENTIFIER name the command on its
// I_T nexus; 01b is reserved; 11b: the list has no identifier.
constexpr std::uint8_t kListIdReserved = 0x1;
constexpr std::uint8_t kNoListId = 0x3;

struct Segment {
    std::uint64_t source;       // byte offsets in the store
    std::uint64_t destination;  //
    std::uint64_t bytes;
};

struct CopyJob {
    LuState* lu;
    Command* cmd;
    IoEngine* io;
    std::uint64_t nexus;
    std::optional<std::uint8_t> list_id;  // whose CopyStatus this job keeps up to date
    bool fua;
    std::vector<Segment> segments;
    ByteBuffer chunk;
    std::size_t segment = 0;   // the segment being copied
    std::uint64_t done = 0;    // bytes of it copied
    std::uint64_t copied = 0;  // bytes of all segments
    std::uint64_t at = 0;      // offset in the segment of the chunk in flight
    std::uint64_t step = 0;    // its length
    bool writing = false;      // the call in flight writes the chunk (else reads it)
    bool submitting = false;
    bool completed_inline = false;
    std::error_code result{};
};

// The CopyStatus of `list_id` on `nexus`, when there is one. Expects LuState::mutex held.
CopyStatus* copy_status_locked(LuState& lu, std::uint64_t nexus, std::uint8_t list_id) {
    const auto it = lu.nexuses.find(nexus);
    if (it == lu.nexuses.end()) return nullptr;
    for (CopyStatus& status : it->second.copies)
        if (status.list_id == list_id) return &status;
    return nullptr;
}

// Brings the job's CopyStatus up to date (a reset may have dropped it: then nothing).
void publish(CopyJob* job, CopyStatus::State state) {
    if (!job->list_id) return;
    std::lock_guard lock(job->lu->mutex);
    if (CopyStatus* status = copy_status_locked(*job->lu, job->nexus, *job->list_id)) {
        status->state = state;
        status->segments_processed = static_cast<std::uint16_t>(job->segment);
        status->bytes = job->copied;
    }
}

void finish(CopyJob* job, std::optional<Sense> error) {
    Command& cmd = *job->cmd;
    publish(job, error ? CopyStatus::State::failed : CopyStatus::State::succeeded);
    {
        std::lock_guard lock(job->lu->mutex);
        --job->lu->copies_running;
    }
    if (error)
        fail(cmd, *error);
    else
        good(cmd);
    delete job;
    complete(cmd);
}

// Accounts for the call that just ended; false when the job is over (and freed).
bool advance(CopyJob* job) {
    if (job->result) {
        // SPC-4 §6.4: an error while segments are processed ends the command with COPY ABORTED;
        // the additional sense code says what the store reported.
        Sense sense = storage_error(*job->lu, job->result, job->writing);
        finish(job, Sense::copy_aborted(sense.asc, sense.ascq));
        return false;
    }
    if (!job->writing) {
        job->writing = true;
        return true;
    }
    job->writing = false;
    job->done += job->step;
    job->copied += job->step;
    return true;
}

// Issues reads and writes until one completes asynchronously or every segment is copied; inline
// completions loop here rather than recurse (as WRITE SAME does).
void run(CopyJob* job) {
    for (;;) {
        while (job->segment < job->segments.size() && job->done == job->segments[job->segment].bytes) {
            ++job->segment;
            job->done = 0;
            publish(job, CopyStatus::State::in_progress);
        }
        if (job->segment == job->segments.size()) return finish(job, std::nullopt);
        const Segment& s = job->segments[job->segment];
        if (!job->writing) {
            job->step = std::min<std::uint64_t>(job->chunk.size(), s.bytes - job->done);
            // A destination that overlaps the source further on is copied from its end, so that
            // no block is overwritten before it has been read.
            const bool backward = s.destination > s.source && s.destination < s.source + s.bytes;
            job->at = backward ? s.bytes - job->done - job->step : job->done;
        }
        job->submitting = true;
        job->completed_inline = false;
        auto done = [job](std::error_code ec) {
            job->result = ec;
            if (job->submitting) {
                job->completed_inline = true;
                return;
            }
            if (advance(job)) run(job);
        };
        const auto bytes = static_cast<std::size_t>(job->step);
        if (job->writing)
            job->lu->store.write(s.destination + job->at, ConstByteSpan(job->chunk.data(), bytes), job->fua, *job->io,
                                 std::move(done));
        else
            job->lu->store.read(s.source + job->at, ByteSpan(job->chunk.data(), bytes), *job->io, std::move(done));
        job->submitting = false;
        if (!job->completed_inline) return;
        if (!advance(job)) return;
    }
}

// What the parameter list asks for, once checked.
struct CopyRequest {
    std::vector<std::size_t> cscd;  // offset of each CSCD descriptor in the parameter list
    std::vector<std::size_t> segment_at;
};

// SPC-4 §6.4.5 (CSCD descriptors, Identification descriptor CSCD descriptor): checks the CSCD
// descriptor list and records where each descriptor lies.
std::optional<Sense> parse_cscd_descriptors(const LuState& lu, std::span<const std::uint8_t> p, std::size_t end,
                                            CopyRequest& request) {
    for (std::size_t at = kHeaderBytes; at < end; at += kCscdDescriptorBytes) {
        // Only E4h; the 64-byte types and the other 32-byte ones are not implemented.
        if (p[at] != kIdentificationDescriptor) {
            Sense s = Sense::unsupported_target_descriptor_type_code();
            s.field_pointer = static_cast<std::uint16_t>(at);
            s.field_in_cdb = false;
            return s;
        }
        // SPC-4 §6.4.3.4: more descriptors than MAXIMUM CSCD DESCRIPTOR COUNT.
        if (request.cscd.size() == kMaxCscdDescriptors) return Sense::too_many_target_descriptors();
        // The CSCD DESCRIPTOR LIST LENGTH must hold whole descriptors.
        if (end - at < kCscdDescriptorBytes) return Sense::invalid_field_in_parameter_list(2);
        // Byte 1: LU ID TYPE and NUL are not used by an E4h descriptor in SPC-4 (NUL is obsolete);
        // PERIPHERAL DEVICE TYPE must be 00h, a block device, the only kind we copy.
        if ((p[at + 1] & 0x1f) != 0x00)
            return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(at + 1), 4);
        // The designation descriptor (bytes 4-27) has room for a designator of 20 bytes.
        if (p[at + 7] > 20) return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(at + 7));
        // SBC-3 block device type specific parameters (bytes 28-31): PAD is meaningless with equal
        // block lengths; the DISK BLOCK LENGTH must be the LU's.
        if (load_be24(&p[at + 29]) != lu.block_size)
            return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(at + 29));
        request.cscd.push_back(at);
    }
    return std::nullopt;
}

// SPC-4 §6.4.6 (segment descriptors): checks the segment descriptor list.
std::optional<Sense> parse_segment_descriptors(const LuState& lu, std::span<const std::uint8_t> p, std::size_t begin,
                                               std::size_t end, CopyRequest& request) {
    for (std::size_t at = begin; at < end;) {
        if (p[at] != kBlockToBlock) {
            Sense s = Sense::unsupported_segment_descriptor_type_code();
            s.field_pointer = static_cast<std::uint16_t>(at);
            s.field_in_cdb = false;
            return s;
        }
        // SPC-4 §6.4.3.5: more descriptors than MAXIMUM SEGMENT DESCRIPTOR COUNT.
        if (request.segment_at.size() == kMaxSegmentDescriptors) return Sense::too_many_segment_descriptors();
        if (end - at < kSegmentHeaderBytes + kBlockToBlockLength) return Sense::invalid_field_in_parameter_list(8);
        if (load_be16(&p[at + 2]) != kBlockToBlockLength)
            return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(at + 2));
        // MAXIMUM SEGMENT LENGTH bounds what one descriptor moves. DC (byte 1 bit 1) says whose
        // blocks NUMBER OF BLOCKS counts; source and destination blocks are the same size here.
        if (std::uint64_t{load_be16(&p[at + 10])} * lu.block_size > kMaxCopySegmentBytes)
            return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(at + 10));
        request.segment_at.push_back(at);
        at += kSegmentHeaderBytes + kBlockToBlockLength;
    }
    return std::nullopt;
}

// SPC-4 §6.4.6: the CSCD descriptor a SOURCE or DESTINATION CSCD DESCRIPTOR ID field (at byte
// `field`) names must exist and name a copy target we reach: this LU. Otherwise the copy is
// aborted (COPY ABORTED, UNREACHABLE COPY TARGET or COPY TARGET DEVICE NOT REACHABLE).
std::optional<Sense> resolve(const LuState& lu, std::span<const std::uint8_t> p, const CopyRequest& request,
                             std::size_t field) {
    const std::uint16_t id = load_be16(&p[field]);
    if (id >= request.cscd.size()) return Sense::copy_aborted(0x08, 0x04, static_cast<std::uint16_t>(field));
    const std::size_t at = request.cscd[id];
    if (!designates_lu(lu, p.subspan(at + 4, 24)))
        return Sense::copy_aborted(0x0d, 0x02, static_cast<std::uint16_t>(at + 4));
    return std::nullopt;
}

}  // namespace

Flow extended_copy(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    const std::uint32_t list_length = load_be32(&c[10]);
    // SPC-4 §6.4.1: a PARAMETER LIST LENGTH of zero transfers nothing and changes nothing.
    if (list_length == 0) return good(cmd);
    // With a shorter data-out (the initiator's expected length was smaller), only what arrived counts.
    const std::size_t available = std::min<std::size_t>(list_length, cmd.buffer.size());
    if (available < kHeaderBytes) return fail(cmd, Sense::parameter_list_length_error());
    const std::span<const std::uint8_t> p(reinterpret_cast<const std::uint8_t*>(cmd.buffer.data()), available);

    // SPC-4 §6.4.3: the parameter list header. STR and PRIORITY are hints we need not follow.
    const std::uint8_t list_id = p[0];
    const auto list_id_usage = static_cast<std::uint8_t>((p[1] >> 3) & 0x03);
    const std::size_t cscd_bytes = load_be16(&p[2]);
    const std::size_t segment_bytes = load_be32(&p[8]);
    const std::uint32_t inline_bytes = load_be32(&p[12]);
    if (list_id_usage == kListIdReserved) return fail(cmd, Sense::invalid_field_in_parameter_list(1, 4));
    // SPC-4 §6.18 (OPERATING PARAMETERS): the descriptor lists may not exceed MAXIMUM DESCRIPTOR
    // LIST LENGTH, and MAXIMUM INLINE DATA LENGTH is zero (no descriptor we take uses inline data).
    if (cscd_bytes + segment_bytes > kMaxDescriptorListBytes) return fail(cmd, Sense::parameter_list_length_error());
    if (inline_bytes != 0) return fail(cmd, Sense::invalid_field_in_parameter_list(12));
    // SPC-4 §6.4.1: a parameter list length that truncates the lists the header announces.
    if (kHeaderBytes + cscd_bytes + segment_bytes > available) return fail(cmd, Sense::parameter_list_length_error());

    CopyRequest request;
    const std::size_t cscd_end = kHeaderBytes + cscd_bytes;
    if (auto error = parse_cscd_descriptors(lu, p, cscd_end, request)) return fail(cmd, *error);
    if (auto error = parse_segment_descriptors(lu, p, cscd_end, cscd_end + segment_bytes, request))
        return fail(cmd, *error);

    // Every segment's copy targets and ranges, before any block moves: a copy that cannot finish
    // does not start. These are errors of segment processing, so COPY ABORTED (SPC-4 §6.4).
    std::vector<Segment> segments;
    segments.reserve(request.segment_at.size());
    std::optional<Sense> aborted;
    for (const std::size_t at : request.segment_at) {
        if ((aborted = resolve(lu, p, request, at + 4)) || (aborted = resolve(lu, p, request, at + 6))) break;
        const std::uint64_t blocks = load_be16(&p[at + 10]);
        const std::uint64_t source = load_be64(&p[at + 12]);
        const std::uint64_t destination = load_be64(&p[at + 20]);
        // The copy target would answer LOGICAL BLOCK ADDRESS OUT OF RANGE; the segment pointer
        // names the field.
        if (!in_range(lu, source, blocks)) {
            aborted = Sense::copy_aborted(0x00, 0x00, static_cast<std::uint16_t>(at + 12));
            break;
        }
        if (!in_range(lu, destination, blocks)) {
            aborted = Sense::copy_aborted(0x00, 0x00, static_cast<std::uint16_t>(at + 20));
            break;
        }
        segments.push_back({source * lu.block_size, destination * lu.block_size, blocks * lu.block_size});
    }
    const bool writes = std::any_of(segments.begin(), segments.end(), [](const Segment& s) { return s.bytes != 0; });
    if (!aborted && writes && write_protected(lu, cmd)) return fail(cmd, write_protect_sense(lu, cmd));

    std::optional<std::uint8_t> tracked;
    if (list_id_usage != kNoListId) tracked = list_id;
    {
        std::lock_guard lock(lu.mutex);
        NexusState& nexus = lu.nexus_locked(cmd.nexus);
        if (tracked) {
            const auto same = std::find_if(nexus.copies.begin(), nexus.copies.end(),
                                           [&](const CopyStatus& s) { return s.list_id == list_id; });
            if (same != nexus.copies.end()) {
                // SPC-4 §6.4.3 (LIST ID USAGE): the identifier of a command still running on this nexus.
                if (same->state == CopyStatus::State::in_progress) return fail(cmd, Sense::operation_in_progress());
                // SPC-4 §6.18 (COPY STATUS): a new command with the same identifier replaces it.
                nexus.copies.erase(same);
            }
        }
        if (!aborted && lu.copies_running == kMaxConcurrentCopies) return fail(cmd, Sense::insufficient_resources());
        if (tracked) {
            // The oldest status not running makes room (SPC-4 §6.18: when the resources are needed).
            if (nexus.copies.size() == kMaxConcurrentCopies) {
                const auto old = std::find_if(nexus.copies.begin(), nexus.copies.end(), [](const CopyStatus& s) {
                    return s.state != CopyStatus::State::in_progress;
                });
                if (old != nexus.copies.end()) nexus.copies.erase(old);
            }
            if (nexus.copies.size() < kMaxConcurrentCopies)
                nexus.copies.push_back({list_id, aborted ? CopyStatus::State::failed : CopyStatus::State::in_progress,
                                        static_cast<std::uint16_t>(aborted ? segments.size() : 0), 0});
        }
        if (!aborted) ++lu.copies_running;
    }
    if (aborted) return fail(cmd, *aborted);
    if (!writes) {
        cmd.buffer.clear();
        std::lock_guard lock(lu.mutex);
        --lu.copies_running;
        if (CopyStatus* status = tracked ? copy_status_locked(lu, cmd.nexus, list_id) : nullptr) {
            status->state = CopyStatus::State::succeeded;
            status->segments_processed = static_cast<std::uint16_t>(segments.size());
        }
        return good(cmd);
    }

    std::uint64_t largest = 0;
    for (const Segment& s : segments) largest = std::max(largest, s.bytes);
    auto* job = new CopyJob{&lu,
                            &cmd,
                            &io,
                            cmd.nexus,
                            tracked,
                            !lu.write_cache.load(std::memory_order_relaxed),
                            std::move(segments),
                            ByteBuffer{}};
    // Pooled, so aligned as a file opened with O_DIRECT needs.
    job->chunk.resize_for_overwrite(static_cast<std::size_t>(std::min<std::uint64_t>(largest, kCopyChunkBytes)));
    cmd.buffer.clear();
    run(job);
    return Flow::pending;
}

}  // namespace iscsikit::scsi::detail
