// iscsikit cp SRC DST: a local file or block device to a LUN, a LUN to a file, or a LUN to a LUN.
// --qd workers on one io_context thread each take the next --bs chunk, read it, and write it
// (or skip it, or UNMAP it, when it is all zeroes); the destination is synced at the end.
#include <cstring>
#include <iostream>
#include <optional>

#include <unistd.h>

#include <fmt/format.h>

#include "common.hpp"
#include "initiator/format.hpp"
#include "local_file.hpp"
#include "progress.hpp"
#include "workers.hpp"

namespace iscsikit::cli {

namespace {

struct CpArgs {
    std::string src, dst;
    std::string bs = "1m";
    unsigned qd = 8;
    bool no_sparse = false;
    bool unmap = false;
    bool progress = false;
    bool no_progress = false;
};

// One side of the copy: a LUN (session set) or a local file.
struct End {
    std::shared_ptr<Session> session;
    Url url;
    std::uint64_t lun = 0;
    scsi::parse::Capacity capacity;
    std::optional<LocalFile> file;

    bool is_lun() const { return session != nullptr; }
    std::uint32_t block_size() const { return is_lun() ? capacity.block_size : 1; }
    std::string name() const { return is_lun() ? lun_name(url, lun) : file->path(); }
};

struct Copy {
    Copy(End& source, End& destination, Progress& bar) : src(source), dst(destination), progress(bar) {}

    End& src;
    End& dst;
    std::uint64_t total = 0;  // bytes of the source
    std::uint64_t chunk = 0;
    bool unmap = false;   // zero chunks to a LUN: UNMAP instead of WRITE
    bool sparse = false;  // zero chunks to a regular file: leave a hole
    Progress& progress;

    std::uint64_t next = 0;
    std::optional<Error> error;
};

std::uint64_t round_up(std::uint64_t value, std::uint64_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
}

bool all_zero(std::span<const std::byte> data) {
    return data.empty() || (data[0] == std::byte{0} && std::memcmp(data.data(), data.data() + 1, data.size() - 1) == 0);
}

asio::awaitable<Result<void>> read_chunk(const End& src, std::uint64_t offset, std::span<std::byte> buffer) {
    if (!src.is_lun()) co_return src.file->read(offset, buffer);
    const auto bs = src.block_size();
    auto done = co_await initiator::read_blocks(*src.session, src.lun, offset / bs, bs, buffer);
    co_return done;
}

asio::awaitable<Result<void>> write_chunk(const Copy& c, std::uint64_t offset, std::span<const std::byte> data) {
    if (!c.dst.is_lun()) {
        if (c.sparse && all_zero(data)) co_return Result<void>{};  // the file was sized: a hole reads as zeroes
        co_return c.dst.file->write(offset, data);
    }
    const auto bs = c.dst.block_size();
    if (c.unmap && all_zero(data)) {
        // SBC-3 5.28: the thin LUN deallocates the blocks; LBPRZ or not, they no longer hold data.
        const scsi::build::UnmapRange range{offset / bs, static_cast<std::uint32_t>(data.size() / bs)};
        const std::span<const scsi::build::UnmapRange> ranges(&range, 1);
        auto done = co_await initiator::unmap(*c.dst.session, c.dst.lun, ranges);
        co_return done;
    }
    auto done = co_await initiator::write_blocks(*c.dst.session, c.dst.lun, offset / bs, bs, data);
    co_return done;
}

asio::awaitable<void> copy_worker(Copy& c, std::span<std::byte> buffer) {
    while (!c.error && c.next < c.total) {
        const std::uint64_t offset = c.next;
        const std::uint64_t length = std::min(c.chunk, c.total - offset);
        c.next += length;
        // A source that ends inside a destination block: the rest of that block is written as zeroes.
        auto data = buffer.first(round_up(length, c.dst.block_size()));
        std::memset(data.data() + length, 0, data.size() - length);
        auto done = co_await read_chunk(c.src, offset, data.first(length));
        if (done) done = co_await write_chunk(c, offset, data);
        if (!done) {
            if (!c.error) c.error = done.error();
            co_return;
        }
        c.progress.add(length);
    }
}

bool same_session(const Url& a, const Url& b) {
    return a.portal == b.portal && a.target == b.target && a.user == b.user && a.password == b.password;
}

// Connects (or shares `other`'s session when it is the same target) and reads the LUN's capacity.
asio::awaitable<Result<void>> open_lun(asio::any_io_executor executor, const std::string& text,
                                       const CommonOptions& common, End& end, const End& other) {
    auto url = parse_lun_url(text);
    if (!url) co_return tl::unexpected(url.error());
    end.url = *url;
    end.lun = *url->lun;
    if (other.is_lun() && same_session(other.url, end.url)) {
        end.session = other.session;
    } else {
        auto session = co_await connect(executor, end.url, common);
        if (!session) co_return tl::unexpected(session.error());
        end.session = std::move(*session);
    }
    if (auto present = co_await require_lun(*end.session, end.lun); !present) co_return present;
    auto capacity = co_await initiator::read_capacity(*end.session, end.lun);
    if (!capacity) co_return tl::unexpected(capacity.error());
    end.capacity = *capacity;
    co_return Result<void>{};
}

// Everything that can be known wrong before the first byte moves.
Result<std::uint64_t> plan(const CpArgs& args, const End& src, const End& dst, std::uint64_t total) {
    const std::uint64_t chunk = size_value(args.bs);
    for (const End* end : {&src, &dst}) {
        if (!end->is_lun()) continue;
        if (chunk == 0 || chunk % end->block_size() != 0 || chunk / end->block_size() > UINT32_MAX)
            return initiator::fail(ErrorKind::invalid_argument,
                                   fmt::format("--bs {} is not a multiple of the {}-byte block size of {}", args.bs,
                                               end->block_size(), end->name()));
    }
    if (dst.is_lun() && round_up(total, dst.block_size()) > dst.capacity.bytes())
        return initiator::fail(ErrorKind::invalid_argument,
                               fmt::format("{} ({} bytes) is larger than {} ({} bytes)", src.name(), total, dst.name(),
                                           dst.capacity.bytes()));
    if (args.unmap && !dst.capacity.thin)
        return initiator::fail(
            ErrorKind::invalid_argument,
            fmt::format("--unmap: {} is not thin-provisioned (READ CAPACITY reports LBPME 0)", dst.name()));
    return chunk;
}

asio::awaitable<Result<void>> sync_destination(const End& dst) {
    if (!dst.is_lun()) co_return dst.file->sync();
    auto done = co_await initiator::synchronize_cache(*dst.session, dst.lun);
    co_return done;
}

asio::awaitable<Result<void>> copy(asio::any_io_executor executor, const CommonOptions& common, const CpArgs& args,
                                   End& src, End& dst) {
    const bool src_lun = is_iscsi_url(args.src), dst_lun = is_iscsi_url(args.dst);
    if (!src_lun && !dst_lun)
        co_return initiator::fail(ErrorKind::invalid_argument,
                                  "SRC or DST must be an iscsi:// URL (both are local paths)");
    if (args.unmap && !dst_lun)
        co_return initiator::fail(ErrorKind::invalid_argument, "--unmap needs an iscsi:// URL as DST");
    if (src_lun) {
        if (auto opened = co_await open_lun(executor, args.src, common, src, dst); !opened) co_return opened;
    } else {
        auto file = LocalFile::open_source(args.src);
        if (!file) co_return tl::unexpected(file.error());
        src.file = std::move(*file);
    }
    if (dst_lun) {
        if (auto opened = co_await open_lun(executor, args.dst, common, dst, src); !opened) co_return opened;
    }
    const std::uint64_t total = src_lun ? src.capacity.bytes() : src.file->size();
    auto chunk = plan(args, src, dst, total);
    if (!chunk) co_return tl::unexpected(chunk.error());
    if (!dst_lun) {  // opened last: a failed check above leaves an existing file alone
        auto file = LocalFile::open_destination(args.dst, total);
        if (!file) co_return tl::unexpected(file.error());
        dst.file = std::move(*file);
    }

    Progress progress(total, args.progress || (!args.no_progress && ::isatty(STDERR_FILENO)));
    Copy c(src, dst, progress);
    c.total = total;
    c.chunk = *chunk;
    c.unmap = args.unmap;
    c.sparse = !args.no_sparse && !dst_lun && dst.file->regular();
    const std::size_t workers =
        static_cast<std::size_t>(std::min<std::uint64_t>(args.qd, (total + *chunk - 1) / *chunk));
    const std::size_t buffer_size = round_up(*chunk, dst.block_size());
    std::vector<std::byte> buffers(buffer_size * workers);
    co_await run_workers(executor, workers, [&](std::size_t i) {
        return copy_worker(c, std::span(buffers).subspan(i * buffer_size, buffer_size));
    });
    if (!c.error) {
        auto synced = co_await sync_destination(dst);
        if (!synced) c.error = synced.error();
    }
    progress.finish();  // ends the bar's line, so an error message starts on its own
    if (c.error) co_return tl::unexpected(*c.error);
    co_return Result<void>{};
}

asio::awaitable<Result<void>> run(asio::any_io_executor executor, const CommonOptions& common, const CpArgs& args) {
    End src, dst;
    auto result = co_await copy(executor, common, args, src, dst);
    // Log out of each session once (src and dst may share one), whatever the copy returned.
    if (src.session) co_await src.session->logout();
    if (dst.session && dst.session != src.session) co_await dst.session->logout();
    co_return result;
}

}  // namespace

Subcommand add_cp(CLI::App& parent, CommonOptions& common) {
    auto args = std::make_shared<CpArgs>();
    auto* sub = parent.add_subcommand("cp", "copy a file to a LUN, a LUN to a file, or a LUN to a LUN");
    sub->add_option("src", args->src, "local path, or iscsi://HOST[:PORT]/TARGET-IQN[/LUN] (LUN 0 when absent)")
        ->required();
    sub->add_option("dst", args->dst, "local path, or iscsi://HOST[:PORT]/TARGET-IQN[/LUN]")->required();
    sub->add_option("--bs", args->bs, "bytes per command (k, m, g suffixes); a multiple of the block size")
        ->check(size_check())
        ->capture_default_str();
    sub->add_option("--qd", args->qd, "chunks in flight")->check(CLI::Range(1u, 1024u))->capture_default_str();
    sub->add_flag("--no-sparse", args->no_sparse, "LUN to file: write all-zero chunks instead of leaving holes");
    sub->add_flag("--unmap", args->unmap, "to a thin LUN: UNMAP all-zero chunks instead of writing them");
    auto* progress =
        sub->add_flag("--progress", args->progress, "show the progress bar even when stderr is no terminal");
    sub->add_flag("--no-progress", args->no_progress, "never show the progress bar")->excludes(progress);
    add_common_options(*sub, common, false);
    return {sub, [args, &common](asio::any_io_executor executor) { return run(std::move(executor), common, *args); }};
}

}  // namespace iscsikit::cli
