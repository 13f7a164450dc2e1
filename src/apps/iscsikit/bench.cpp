// iscsikit bench URL: --qd coroutines on one io_context thread, each issuing READ(16) or WRITE(16)
// of --bs bytes at sequential offsets or random --align-aligned ones until the time is up; IOPS,
// throughput and latency percentiles. The loop allocates nothing itself: one buffer and one Command per worker.
#include <iostream>
#include <optional>
#include <random>

#include <fmt/format.h>

#include "common.hpp"
#include "initiator/format.hpp"
#include "latency.hpp"
#include "workers.hpp"

namespace iscsikit::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct BenchArgs {
    std::string url;
    std::string rw = "randread";
    std::string bs = "4k";
    std::string align;  // empty: --bs (random offsets only)
    unsigned qd = 32;
    double seconds = 10;
    std::string size;          // empty: the whole LUN (from --offset on)
    std::string offset;        // where the region starts; empty: LBA 0
    bool once = false;         // sequential: one pass over the region, then stop
    unsigned read_share = 70;  // randrw: percent of the I/Os that are reads
};

// splitmix64 (Steele, Lea, Flood 2014): a fast generator for offsets, a few instructions per call.
struct Rng {
    std::uint64_t state;
    std::uint64_t operator()() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
};

struct Bench {
    explicit Bench(Session& s) : session(s) {}

    Session& session;
    std::uint64_t lun = 0;
    bool write = false;
    bool random = false;
    std::uint32_t io_bytes = 0;
    std::uint32_t blocks_per_io = 0;
    std::uint64_t slots = 0;             // io_bytes-sized slots in the region, from LBA 0 (sequential)
    std::uint64_t align_blocks = 0;      // random: offsets are multiples of this many blocks
    std::uint64_t random_positions = 0;  // random: start offsets at which a whole I/O fits
    std::uint64_t first_lba = 0;         // where the region starts
    bool once = false;
    unsigned read_share = 100;  // percent of reads: 0 write, 100 read, between randrw
    Clock::time_point deadline;

    std::uint64_t next_slot = 0;  // sequential: shared by all workers
    bool stop = false;
    std::uint64_t errors = 0;
    std::optional<Error> first_error;
    LatencyHistogram latency;
    Clock::time_point last_completion;
};

// A SCSI failure or a timed-out command is counted and the run goes on; a failed session ends it.
bool ends_run(ErrorKind kind) { return kind != ErrorKind::scsi_error && kind != ErrorKind::timeout; }

asio::awaitable<void> worker(Bench& b, std::span<std::byte> buffer, std::uint64_t seed) {
    Rng rng{seed};
    initiator::Command cmd;
    cmd.lun = b.lun;
    for (auto now = Clock::now(); !b.stop && now < b.deadline;) {
        const bool write = b.write && (b.read_share == 0 || rng() % 100 >= b.read_share);
        cmd.direction = write ? initiator::DataDirection::write : initiator::DataDirection::read;
        cmd.write_data = write ? std::span<const std::byte>(buffer) : std::span<const std::byte>{};
        cmd.read_buffer = write ? std::span<std::byte>{} : buffer;
        if (!b.random && b.once && b.next_slot >= b.slots) break;
        const std::uint64_t lba = b.first_lba + (b.random ? rng() % b.random_positions * b.align_blocks
                                                          : b.next_slot++ % b.slots * b.blocks_per_io);
        cmd.cdb = write ? scsi::build::write16(lba, b.blocks_per_io) : scsi::build::read16(lba, b.blocks_per_io);
        const auto start = Clock::now();
        auto done = co_await b.session.execute(cmd);
        const auto end = Clock::now();
        b.last_completion = now = end;
        if (done && done->good()) {
            b.latency.record(static_cast<std::uint64_t>(std::chrono::nanoseconds(end - start).count()));
            continue;
        }
        ++b.errors;
        auto failed = initiator::check(
            std::move(done),
            fmt::format("{} LBA {}+{} on LUN {}", write ? "WRITE(16)" : "READ(16)", lba, b.blocks_per_io, b.lun));
        if (!b.first_error) b.first_error = failed.error();
        if (ends_run(failed.error().kind)) b.stop = true;
    }
}

void print(const BenchArgs& args, const Bench& b, double seconds, bool json) {
    const auto ios = b.latency.count();
    const double iops = seconds > 0 ? static_cast<double>(ios) / seconds : 0.0;
    const double bytes_per_sec = iops * b.io_bytes;
    const auto us = [&](double ns) { return ns / 1000.0; };
    const double mean = us(b.latency.mean()), p50 = us(b.latency.percentile(0.5)), p99 = us(b.latency.percentile(0.99)),
                 p999 = us(b.latency.percentile(0.999)), max = us(static_cast<double>(b.latency.max()));
    if (json) {
        print_json({{"rw", args.rw},
                    {"bs", b.io_bytes},
                    {"align", b.align_blocks * (b.io_bytes / b.blocks_per_io)},
                    {"qd", args.qd},
                    {"seconds", seconds},
                    {"ios", ios},
                    {"errors", b.errors},
                    {"iops", iops},
                    {"bytes_per_sec", bytes_per_sec},
                    {"lat_us", {{"mean", mean}, {"p50", p50}, {"p99", p99}, {"p999", p999}, {"max", max}}}});
        return;
    }
    std::cout << fmt::format("{} bs={} qd={}: {} I/Os in {:.2f} s, {} errors\n", args.rw,
                             initiator::format_size(b.io_bytes), args.qd, ios, seconds, b.errors)
              << fmt::format("IOPS {:.0f}, {:.1f} MB/s ({})\n", iops, bytes_per_sec / 1e6,
                             initiator::format_rate(bytes_per_sec))
              << fmt::format("latency µs: mean {:.1f}  p50 {:.1f}  p99 {:.1f}  p99.9 {:.1f}  max {:.1f}\n", mean, p50,
                             p99, p999, max);
}

asio::awaitable<Result<void>> run(asio::any_io_executor executor, Session& session, std::uint64_t lun,
                                  const BenchArgs& args, bool json) {
    auto cap = co_await initiator::read_capacity(session, lun);
    if (!cap) co_return tl::unexpected(cap.error());
    const std::uint64_t io_bytes = size_value(args.bs);
    if (io_bytes == 0 || io_bytes % cap->block_size != 0 || io_bytes / cap->block_size > UINT32_MAX)
        co_return initiator::fail(ErrorKind::invalid_argument,
                                  fmt::format("--bs {} is not a multiple of the {}-byte block size of {}", args.bs,
                                              cap->block_size, lun_name(session.url(), lun)));
    const std::uint64_t offset = args.offset.empty() ? 0 : size_value(args.offset);
    if (offset % cap->block_size != 0 || offset >= cap->bytes())
        co_return initiator::fail(
            ErrorKind::invalid_argument,
            fmt::format("--offset {} is not a multiple of the {}-byte block size inside {} ({})", args.offset,
                        cap->block_size, lun_name(session.url(), lun), initiator::format_size(cap->bytes())));
    const std::uint64_t region = args.size.empty() ? cap->bytes() - offset : size_value(args.size);
    if (region > cap->bytes() - offset)
        co_return initiator::fail(
            ErrorKind::invalid_argument,
            fmt::format("--offset {} + --size {} is past the end of {} ({})", args.offset, args.size,
                        lun_name(session.url(), lun), initiator::format_size(cap->bytes())));
    if (region < io_bytes)
        co_return initiator::fail(ErrorKind::invalid_argument,
                                  fmt::format("the region of {} is smaller than one I/O of {}",
                                              initiator::format_size(region), initiator::format_size(io_bytes)));

    const std::uint64_t align = args.align.empty() ? io_bytes : size_value(args.align);
    if (align == 0 || align % cap->block_size != 0)
        co_return initiator::fail(ErrorKind::invalid_argument,
                                  fmt::format("--align {} is not a multiple of the {}-byte block size of {}",
                                              args.align, cap->block_size, lun_name(session.url(), lun)));

    Bench b(session);
    b.lun = lun;
    b.write = args.rw == "write" || args.rw == "randwrite" || args.rw == "randrw";
    b.read_share = args.rw == "randrw" ? args.read_share : b.write ? 0 : 100;
    b.random = args.rw.starts_with("rand");
    b.io_bytes = static_cast<std::uint32_t>(io_bytes);
    b.blocks_per_io = static_cast<std::uint32_t>(io_bytes / cap->block_size);
    b.slots = region / io_bytes;
    b.align_blocks = align / cap->block_size;
    b.random_positions = (region - io_bytes) / align + 1;  // with align == io_bytes: the slots
    b.first_lba = offset / cap->block_size;
    b.once = args.once;

    std::random_device entropy;
    const std::uint64_t seed = (std::uint64_t{entropy()} << 32) | entropy();
    std::vector<std::byte> buffers(static_cast<std::size_t>(io_bytes) * args.qd);
    Rng pattern{seed};
    for (auto& byte : buffers) byte = static_cast<std::byte>(pattern());  // writes carry a non-zero pattern

    const auto start = Clock::now();
    b.deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.seconds));
    b.last_completion = start;
    co_await run_workers(executor, args.qd, [&](std::size_t i) {
        return worker(b, std::span(buffers).subspan(i * io_bytes, io_bytes), seed + i * 0x100000001b3ull);
    });
    const double seconds = std::chrono::duration<double>(b.last_completion - start).count();
    print(args, b, seconds, json);
    if (b.first_error) {
        co_return initiator::fail(b.first_error->kind, b.errors == 1 ? b.first_error->message
                                                                     : fmt::format("{} I/Os failed, the first: {}",
                                                                                   b.errors, b.first_error->message));
    }
    co_return Result<void>{};
}

}  // namespace

Subcommand add_bench(CLI::App& parent, CommonOptions& common) {
    auto args = std::make_shared<BenchArgs>();
    auto* sub = parent.add_subcommand(
        "bench", "measure IOPS, throughput and latency of a LUN (write and randwrite DESTROY the LUN's data)");
    sub->add_option("url", args->url, "iscsi://HOST[:PORT]/TARGET-IQN[/LUN] (LUN 0 when absent)")->required();
    sub->add_option("--rw", args->rw, "read, write, randread, randwrite or randrw (writes overwrite the LUN)")
        ->check(CLI::IsMember({"read", "write", "randread", "randwrite", "randrw"}))
        ->capture_default_str();
    sub->add_option("--bs", args->bs, "bytes per I/O (k, m, g suffixes)")->check(size_check())->capture_default_str();
    sub->add_option("--align", args->align,
                    "random offsets are multiples of this (default: --bs; 512 reads like iscsi-perf -r)")
        ->check(size_check());
    sub->add_option("--qd", args->qd, "I/Os in flight")->check(CLI::Range(1u, 4096u))->capture_default_str();
    sub->add_option("--time", args->seconds, "seconds to run")->check(CLI::PositiveNumber)->capture_default_str();
    sub->add_option("--size", args->size, "bytes of the LUN used, from --offset (default: all of it)")
        ->check(size_check());
    sub->add_option("--offset", args->offset, "where the bytes used start (default: 0)")->check(size_check());
    sub->add_option("--read-share", args->read_share, "randrw: percent of the I/Os that are reads")
        ->check(CLI::Range(0u, 100u))
        ->capture_default_str();
    sub->add_flag("--once", args->once, "read or write: one pass over the bytes used, then stop (or --time)");
    add_common_options(*sub, common, true);
    return {sub, [args, &common](const asio::any_io_executor& executor) {
                return with_lun(executor, args->url, common, [executor, args, &common](Session& s, std::uint64_t lun) {
                    return run(executor, s, lun, *args, common.json);
                });
            }};
}

}  // namespace iscsikit::cli
