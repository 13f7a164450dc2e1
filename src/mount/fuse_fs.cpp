#define FUSE_USE_VERSION 35
#include "mount/fuse_fs.hpp"

#include <fcntl.h>
#include <fuse3/fuse_lowlevel.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace iscsikit::mount {

namespace {

constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;  // the directory; LUN i is kRootIno + 1 + i
constexpr double kAttrTimeout = 1.0;           // seconds the kernel may keep names and sizes
constexpr std::size_t kMaxSpareBuffers = 8;
constexpr int kRequestsPerTurn = 64;  // requests taken from /dev/fuse before replies get a turn
constexpr unsigned kMaxWrite = 1u << 20;

FuseFs& fs_of(fuse_req_t req) { return *static_cast<FuseFs*>(fuse_req_userdata(req)); }

// "a,b\c" as one value of a FUSE -o list: commas and backslashes escaped (fuse_opt).
std::string escape_option(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == ',' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

}  // namespace

// The low-level operations. Each one that talks to the target starts a coroutine on the
// session's executor and returns; the coroutine replies. Requests the kernel sends but these do
// not handle get ENOSYS from libfuse.
struct FuseFs::Handlers {
    // The LUN behind an inode, or null for the directory and for inodes we never gave out.
    static LunFile* lun(FuseFs& fs, fuse_ino_t ino) {
        if (ino <= kRootIno || ino - kRootIno - 1 >= fs.luns_.size()) return nullptr;
        return fs.luns_[ino - kRootIno - 1].get();
    }

    static bool writable(const FuseFs& fs, const LunFile& file) {
        return !fs.options_.read_only && !file.geometry().write_protected;
    }

    static struct stat attributes(FuseFs& fs, fuse_ino_t ino) {
        struct stat st {};
        st.st_ino = ino;
        st.st_uid = fs.options_.uid;
        st.st_gid = fs.options_.gid;
        st.st_atime = st.st_mtime = st.st_ctime = fs.mounted_at_;
        if (ino == kRootIno) {
            st.st_mode = S_IFDIR | 0755;
            st.st_nlink = 2;
            return st;
        }
        const LunFile& file = *lun(fs, ino);
        st.st_mode = S_IFREG | (writable(fs, file) ? 0600 : 0400);
        st.st_nlink = 1;
        st.st_size = static_cast<off_t>(file.size());
        st.st_blocks = static_cast<blkcnt_t>(file.size() / 512);
        const std::uint32_t optimal = file.geometry().optimal_transfer_bytes;
        st.st_blksize = static_cast<blksize_t>(std::clamp<std::uint32_t>(optimal, 4096, kMaxWrite));
        return st;
    }

    static std::string file_name(const LunFile& file) { return fmt::format("lun{}", file.geometry().lun); }

    static void reply_error(fuse_req_t req, const Error& error) {
        const int code = error.code ? error.code.value() : EIO;
        fuse_reply_err(req, code);
    }

    static void init(void* userdata, fuse_conn_info* conn) {
        (void)userdata;
        conn->max_write = kMaxWrite;  // libfuse's buffer holds one MiB of data (FUSE_MAX_MAX_PAGES)
        conn->max_readahead = std::max(conn->max_readahead, kMaxWrite);
        // Many requests at once: read-ahead and asynchronous direct I/O are background requests.
        conn->max_background = 64;
        conn->congestion_threshold = 48;
        // The data of a write arrives in our buffer (no pipe), so that it can stay there while the
        // WRITE(16) that carries it is in flight.
        conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
        conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;  // a write returns once the target has it
    }

    static void lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
        FuseFs& fs = fs_of(req);
        if (parent != kRootIno) return (void)fuse_reply_err(req, ENOENT);
        for (std::size_t i = 0; i < fs.luns_.size(); ++i) {
            if (file_name(*fs.luns_[i]) != name) continue;
            fuse_entry_param entry{};
            entry.ino = kRootIno + 1 + i;
            entry.attr = attributes(fs, entry.ino);
            entry.attr_timeout = kAttrTimeout;
            entry.entry_timeout = kAttrTimeout;
            fuse_reply_entry(req, &entry);
            return;
        }
        fuse_reply_err(req, ENOENT);
    }

    static void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
        FuseFs& fs = fs_of(req);
        if (ino != kRootIno && !lun(fs, ino)) return (void)fuse_reply_err(req, ENOENT);
        const struct stat st = attributes(fs, ino);
        fuse_reply_attr(req, &st, kAttrTimeout);
    }

    static void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
        FuseFs& fs = fs_of(req);
        LunFile* file = lun(fs, ino);
        if (ino != kRootIno && !file) return (void)fuse_reply_err(req, ENOENT);
        if ((to_set & FUSE_SET_ATTR_SIZE) && file && static_cast<std::uint64_t>(attr->st_size) != file->size()) {
            spdlog::warn("{}: the size of a LUN is fixed ({} bytes): truncating it to {} bytes is refused",
                         file->name(), file->size(), attr->st_size);
            return (void)fuse_reply_err(req, EINVAL);
        }
        if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
            return (void)fuse_reply_err(req, EPERM);  // owner and mode follow the mount's options
        const struct stat st = attributes(fs, ino);   // times: the LUN keeps none, accepted as a no-op
        fuse_reply_attr(req, &st, kAttrTimeout);
    }

    static void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
        FuseFs& fs = fs_of(req);
        if (ino != kRootIno) return (void)fuse_reply_err(req, ENOTDIR);
        // The whole listing, then the part the kernel asks for: a handful of names.
        std::string listing;
        const auto add = [&](const std::string& name, fuse_ino_t entry_ino) {
            struct stat st {};
            st.st_ino = entry_ino;
            st.st_mode = entry_ino == kRootIno ? S_IFDIR : S_IFREG;
            const std::size_t need = fuse_add_direntry(req, nullptr, 0, name.c_str(), nullptr, 0);
            const std::size_t at = listing.size();
            listing.resize(at + need);
            fuse_add_direntry(req, listing.data() + at, need, name.c_str(), &st, static_cast<off_t>(at + need));
        };
        add(".", kRootIno);
        add("..", kRootIno);
        for (std::size_t i = 0; i < fs.luns_.size(); ++i) add(file_name(*fs.luns_[i]), kRootIno + 1 + i);
        if (offset < 0 || static_cast<std::size_t>(offset) >= listing.size())
            return (void)fuse_reply_buf(req, nullptr, 0);
        const std::size_t from = static_cast<std::size_t>(offset);
        fuse_reply_buf(req, listing.data() + from, std::min(size, listing.size() - from));
    }

    static void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        FuseFs& fs = fs_of(req);
        LunFile* file = lun(fs, ino);
        if (!file) return (void)fuse_reply_err(req, ino == kRootIno ? EISDIR : ENOENT);
        if ((fi->flags & O_ACCMODE) != O_RDONLY && !writable(fs, *file)) return (void)fuse_reply_err(req, EROFS);
        // O_TRUNC is ignored, as a block device ignores it: a LUN keeps its size and its data.
        fi->keep_cache = 0;  // another initiator may have written: drop cached pages at open
        fi->direct_io = 0;   // the page cache, unless the opener asked for O_DIRECT
        fuse_reply_open(req, fi);
    }

    static void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info*) {
        FuseFs& fs = fs_of(req);
        LunFile* file = lun(fs, ino);
        if (!file) return (void)fuse_reply_err(req, EISDIR);
        if (offset < 0) return (void)fuse_reply_err(req, EINVAL);
        fs.request_started();
        asio::co_spawn(fs.executor_, serve_read(fs, *file, req, size, static_cast<std::uint64_t>(offset)),
                       asio::detached);
    }

    static asio::awaitable<void> serve_read(FuseFs& fs, LunFile& file, fuse_req_t req, std::size_t size,
                                            std::uint64_t offset) {
        std::vector<std::byte> data(std::min<std::size_t>(size, kMaxWrite));
        auto done = co_await file.read(offset, data);
        if (done)
            fuse_reply_buf(req, reinterpret_cast<const char*>(data.data()), *done);
        else
            reply_error(req, done.error());
        fs.request_finished();
    }

    static void write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
        FuseFs& fs = fs_of(req);
        LunFile* file = lun(fs, ino);
        if (!file) return (void)fuse_reply_err(req, EISDIR);
        if (offset < 0) return (void)fuse_reply_err(req, EINVAL);
        if (!writable(fs, *file)) return (void)fuse_reply_err(req, EROFS);
        // The data stays where /dev/fuse put it, in a buffer this write now owns.
        void* owned = fs.take_receive_buffer();
        const std::span<const std::byte> data(reinterpret_cast<const std::byte*>(buf), size);
        const bool fua = (fi->flags & O_DSYNC) != 0;  // O_SYNC includes O_DSYNC
        fs.request_started();
        asio::co_spawn(fs.executor_, serve_write(fs, *file, req, data, static_cast<std::uint64_t>(offset), fua, owned),
                       asio::detached);
    }

    static asio::awaitable<void> serve_write(FuseFs& fs, LunFile& file, fuse_req_t req, std::span<const std::byte> data,
                                             std::uint64_t offset, bool fua, void* owned) {
        auto done = co_await file.write(offset, data, fua);
        if (done)
            fuse_reply_write(req, *done);
        else
            reply_error(req, done.error());
        fs.give_back_buffer(owned);
        fs.request_finished();
    }

    static void flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
        fuse_reply_err(req, 0);  // nothing is held back: every write was answered by the target
    }

    static void release(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

    static void fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
        (void)datasync;  // a LUN has no metadata of its own: both are SYNCHRONIZE CACHE
        FuseFs& fs = fs_of(req);
        LunFile* file = lun(fs, ino);
        if (!file) return (void)fuse_reply_err(req, 0);
        if (!writable(fs, *file)) return (void)fuse_reply_err(req, 0);  // nothing of ours can be dirty
        fs.request_started();
        asio::co_spawn(fs.executor_, serve_fsync(fs, *file, req), asio::detached);
    }

    static asio::awaitable<void> serve_fsync(FuseFs& fs, LunFile& file, fuse_req_t req) {
        auto done = co_await file.flush();
        if (done)
            fuse_reply_err(req, 0);
        else
            reply_error(req, done.error());
        fs.request_finished();
    }

    static void fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, fuse_file_info*) {
        FuseFs& fs = fs_of(req);
        LunFile* file = lun(fs, ino);
        if (!file) return (void)fuse_reply_err(req, EISDIR);
        if (offset < 0 || length <= 0) return (void)fuse_reply_err(req, EINVAL);
        if (!writable(fs, *file)) return (void)fuse_reply_err(req, EROFS);
        const auto start = static_cast<std::uint64_t>(offset);
        const auto count = static_cast<std::uint64_t>(length);
        if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
            fs.request_started();
            asio::co_spawn(fs.executor_, serve_punch(fs, *file, req, start, count), asio::detached);
            return;
        }
        if (mode == 0 || mode == FALLOC_FL_KEEP_SIZE) {
            // Allocation: the blocks of a fully provisioned LUN exist already; a LUN cannot grow.
            if (mode == 0 && start + count > file->size()) return (void)fuse_reply_err(req, EFBIG);
            return (void)fuse_reply_err(req, file->geometry().thin ? EOPNOTSUPP : 0);
        }
        fuse_reply_err(req, EOPNOTSUPP);
    }

    static asio::awaitable<void> serve_punch(FuseFs& fs, LunFile& file, fuse_req_t req, std::uint64_t offset,
                                             std::uint64_t length) {
        auto done = co_await file.punch_hole(offset, length);
        if (done)
            fuse_reply_err(req, 0);
        else
            reply_error(req, done.error());
        fs.request_finished();
    }

    static void statfs(fuse_req_t req, fuse_ino_t) {
        FuseFs& fs = fs_of(req);
        struct statvfs st {};
        std::uint64_t bytes = 0;
        std::uint32_t block = 4096;
        for (const auto& file : fs.luns_) bytes += file->size();
        if (!fs.luns_.empty()) block = fs.luns_.front()->geometry().block_size;
        st.f_bsize = block;
        st.f_frsize = block;
        st.f_blocks = bytes / block;  // the LUNs' whole size; nothing is free to create files in
        st.f_files = fs.luns_.size() + 1;
        st.f_namemax = 255;
        fuse_reply_statfs(req, &st);
    }
};

FuseFs::FuseFs(asio::any_io_executor executor, std::vector<std::unique_ptr<LunFile>> luns, MountOptions options)
    : executor_(std::move(executor)),
      luns_(std::move(luns)),
      options_(std::move(options)),
      buffer_(std::make_unique<fuse_buf>()) {}

FuseFs::~FuseFs() {
    if (device_) (void)device_->release();  // libfuse owns the descriptor and closes it
    if (session_) {
        if (mounted_) fuse_session_unmount(session_);
        fuse_session_destroy(session_);
    }
    std::free(buffer_->mem);
    for (void* spare : spare_buffers_) std::free(spare);
}

Result<void> FuseFs::mount() {
    static const fuse_lowlevel_ops ops = [] {
        fuse_lowlevel_ops o{};
        o.init = Handlers::init;
        o.lookup = Handlers::lookup;
        o.getattr = Handlers::getattr;
        o.setattr = Handlers::setattr;
        o.readdir = Handlers::readdir;
        o.open = Handlers::open;
        o.read = Handlers::read;
        o.write = Handlers::write;
        o.flush = Handlers::flush;
        o.release = Handlers::release;
        o.fsync = Handlers::fsync;
        o.fallocate = Handlers::fallocate;
        o.statfs = Handlers::statfs;
        return o;
    }();
    std::string mount_options = fmt::format("fsname={},subtype=iscsikit", escape_option(options_.source));
    if (options_.read_only) mount_options += ",ro";
    if (options_.allow_other) mount_options += ",allow_other,default_permissions";
    std::string program = "iscsikit";
    std::string dash_o = "-o";
    char* argv[] = {program.data(), dash_o.data(), mount_options.data(), nullptr};
    fuse_args args = FUSE_ARGS_INIT(3, argv);
    session_ = fuse_session_new(&args, &ops, sizeof ops, this);
    if (!session_)
        return fail(
            fmt::format("{}: cannot create the FUSE session (options '{}')", options_.mountpoint, mount_options));
    if (fuse_session_mount(session_, options_.mountpoint.c_str()) != 0)
        return fail(
            fmt::format("{}: cannot mount the FUSE file system (is /dev/fuse there, and fusermount3 "
                        "installed? libfuse's reason is on the line before)",
                        options_.mountpoint));
    mounted_ = true;
    mounted_at_ = static_cast<std::int64_t>(std::time(nullptr));
    const int fd = fuse_session_fd(session_);
    // Non-blocking: the reactor reads /dev/fuse only when it is readable, and stops at EAGAIN.
    if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        return fail(
            fmt::format("{}: cannot make /dev/fuse non-blocking: {}", options_.mountpoint, std::strerror(errno)));
    device_ = std::make_unique<asio::posix::stream_descriptor>(executor_, fd);
    return {};
}

void* FuseFs::take_receive_buffer() {
    buffer_taken_ = true;
    return buffer_->mem;
}

void FuseFs::give_back_buffer(void* buffer) {
    if (spare_buffers_.size() < kMaxSpareBuffers)
        spare_buffers_.push_back(buffer);
    else
        std::free(buffer);
}

asio::awaitable<void> FuseFs::serve() {
    bool ended = false;
    while (!ended) {
        std::error_code ec;
        co_await device_->async_wait(asio::posix::descriptor_base::wait_read,
                                     asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            spdlog::error("{}: waiting for /dev/fuse failed: {}", options_.mountpoint, ec.message());
            break;
        }
        for (int i = 0; i < kRequestsPerTurn && !ended; ++i) {
            // libfuse mallocs a buffer when given none; a write keeps it (take_receive_buffer).
            if (!buffer_->mem && !spare_buffers_.empty()) {
                buffer_->mem = spare_buffers_.back();
                spare_buffers_.pop_back();
            }
            const int got = fuse_session_receive_buf(session_, buffer_.get());
            if (got == -EAGAIN) break;
            if (got == -EINTR) continue;
            if (fuse_session_exited(session_)) {
                ended = true;  // unmounted, or the connection was aborted
                break;
            }
            if (got < 0) {
                spdlog::error("{}: reading /dev/fuse failed: {}", options_.mountpoint, std::strerror(-got));
                ended = true;
                break;
            }
            if (got == 0) continue;
            fuse_session_process_buf(session_, buffer_.get());
            if (buffer_taken_) {
                buffer_->mem = nullptr;
                buffer_taken_ = false;
            }
        }
    }
    // Answers to requests still in flight go nowhere now, but their coroutines use the LunFiles.
    asio::steady_timer wait(executor_);
    while (in_flight_ > 0) {
        wait.expires_after(std::chrono::milliseconds(10));
        std::error_code ec;
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    spdlog::info("{}: unmounted", options_.mountpoint);
}

}  // namespace iscsikit::mount
