// Heap allocations per steady-state READ and WRITE (issue 8: none per command on the target, at
// most one on the initiator). A counting operator new counts the test's own thread (where the
// client runs: a raw client, or the initiator library's session) apart from every other thread
// (the target's reactors). Commands go through the target's in-process seam, so both sides run
// exactly the code a TCP connection runs, minus the socket; one test adds the socket.
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "initiator/session.hpp"
#include "target_fixture.hpp"

namespace {

std::atomic<std::uint64_t> g_allocations{0};         // on every thread but the test's (the target)
std::atomic<std::uint64_t> g_client_allocations{0};  // on the test's thread (the client)
thread_local bool t_not_counted = false;             // set on the test's thread

void* counted_alloc(std::size_t n, std::size_t align = 0) {
    if (!t_not_counted)
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    else
        g_client_allocations.fetch_add(1, std::memory_order_relaxed);
    if (n == 0) n = 1;
    void* p = align ? std::aligned_alloc(align, (n + align - 1) / align * align) : std::malloc(n);
    if (!p) throw std::bad_alloc();
    return p;
}

}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace iscsikit::target::testing {
namespace {

constexpr int kWarmUp = 500;
constexpr int kMeasured = 10000;

// Issue 8: a steady-state READ or WRITE allocates nothing on the target. The bound allows a
// handful of allocations in 10,000 commands, not one per command: Asio keeps two cached handler
// blocks per thread, and on a busy machine an occasional overlap of operations misses them.
constexpr double kMaxPerRead = 0.001;
constexpr double kMaxPerWrite = 0.001;

class DataPathAllocations : public TargetTest {
protected:
    // Allocations on the target's threads per command, over kMeasured commands after a warm-up.
    double per_command(RawClient& client, bool write, bool fua = false) {
        const std::vector<std::byte> block(kBlock, std::byte{0x5a});
        auto one = [&](int i) {
            const auto lba = static_cast<std::uint32_t>(i % 64);
            auto cdb = write10(lba, 1);
            if (fua) cdb[1] |= 0x08;  // SBC-3 §5.35: FUA
            auto r = write ? client.execute(cdb, kBlock, false, true, block)
                           : client.execute(read10(lba, 1), kBlock, true, false);
            EXPECT_TRUE(r.completed) << r.error;
            EXPECT_EQ(r.status, 0);
            return r.completed && r.status == 0;
        };
        for (int i = 0; i < kWarmUp; ++i)
            if (!one(i)) return -1;
        const auto before = g_allocations.load();
        for (int i = 0; i < kMeasured; ++i)
            if (!one(i)) return -1;
        return static_cast<double>(g_allocations.load() - before) / kMeasured;
    }

    void measure(const char* what, bool tcp = false) {
        auto client = logged_in({}, true, tcp);
        ASSERT_NE(client, nullptr);
        const double reads = per_command(*client, false);
        const double writes = per_command(*client, true);
        const double fua_writes = per_command(*client, true, true);
        std::printf(
            "heap allocations on the target per command, %s: READ(10) 512 B %.4f, WRITE(10) 512 B %.4f, "
            "WRITE(10) FUA 512 B %.4f\n",
            what, reads, writes, fua_writes);
        EXPECT_GE(reads, 0);
        EXPECT_GE(writes, 0);
        EXPECT_GE(fua_writes, 0);
        EXPECT_LE(reads, kMaxPerRead);
        EXPECT_LE(writes, kMaxPerWrite);
        EXPECT_LE(fua_writes, kMaxPerWrite);
    }
};

TEST_F(DataPathAllocations, SteadyStateReadsAndWritesOnARamLunAllocateNothing) {
    t_not_counted = true;
    start();
    measure("RAM LUN");
}

// The same over a TCP connection: the target's TcpTransport, which the seam leaves out, adds
// nothing either (Asio's write operation once copied the buffer vector of every write).
TEST_F(DataPathAllocations, SteadyStateReadsAndWritesOverTcpAllocateNothing) {
    t_not_counted = true;
    start();
    measure("RAM LUN over TCP", true);
}

// File LUNs go through the reactor's io_uring engine (or its synchronous fallback).
TEST_F(DataPathAllocations, SteadyStateReadsAndWritesOnAFileLunAllocateNothing) {
    t_not_counted = true;
    char dir[] = "/tmp/iscsikit-alloc-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/lun.img";  // created by the target, at the LUN's size
    start([&](DaemonConfig& config) {
        for (auto& lun : config.targets.front().luns) {
            lun.kind = LunSpec::Kind::file;
            lun.path = path;
        }
        config.targets.front().luns.resize(1);
    });
    measure("file LUN");
    ::unlink(path.c_str());
    ::rmdir(dir);
}

// The initiator library's session, driven by callbacks on the test's thread, against the target
// over the seam; only the test's thread is counted.
TEST_F(DataPathAllocations, SteadyStateReadsAndWritesOnTheInitiatorAllocateNothing) {
    t_not_counted = true;
    start();
    asio::io_context io;
    initiator::SessionOptions opts;
    opts.transport = [this](asio::any_io_executor executor, const initiator::Portal&) {
        return server().connect_in_process(std::move(executor));
    };
    auto url = initiator::parse_url(std::string("iscsi://127.0.0.1/") + kTargetIqn + "/0");
    ASSERT_TRUE(url) << url.error().message;
    std::shared_ptr<initiator::Session> session;
    std::string failure;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto s = co_await initiator::Session::connect(io.get_executor(), *url, opts);
            if (s)
                session = *s;
            else
                failure = s.error().message;
        },
        asio::detached);
    while (!session && failure.empty() && io.run_one_for(std::chrono::seconds(10)) > 0) {
    }
    ASSERT_TRUE(session) << failure;

    std::vector<std::byte> buffer(kBlock, std::byte{0x3c});
    // Runs `count` commands one after the other; returns the client's allocations per command.
    auto run = [&](bool write, int count) {
        int left = count, failed = 0;
        std::function<void()> next;
        auto done = [&](initiator::Result<initiator::Completion> r) {
            if (!r || r->status != scsi::Status::good) ++failed;
            if (--left > 0)
                next();
            else
                io.stop();
        };
        next = [&] {
            initiator::Command cmd;
            const auto lba = static_cast<std::uint32_t>(left % 64);
            cmd.cdb = write ? scsi::Cdb{0x2a, 0, 0, 0, 0, static_cast<std::uint8_t>(lba), 0, 0, 1, 0}
                            : scsi::Cdb{0x28, 0, 0, 0, 0, static_cast<std::uint8_t>(lba), 0, 0, 1, 0};
            cmd.direction = write ? initiator::DataDirection::write : initiator::DataDirection::read;
            if (write)
                cmd.write_data = buffer;
            else
                cmd.read_buffer = buffer;
            session->submit(cmd, std::ref(done));
        };
        const auto before = g_client_allocations.load();
        io.restart();
        next();
        io.run_for(std::chrono::seconds(60));
        EXPECT_EQ(left, 0);
        EXPECT_EQ(failed, 0);
        return static_cast<double>(g_client_allocations.load() - before) / count;
    };
    run(false, kWarmUp);
    const double reads = run(false, kMeasured);
    run(true, kWarmUp);
    const double writes = run(true, kMeasured);
    std::printf("heap allocations on the initiator per command: READ(10) 512 B %.4f, WRITE(10) 512 B %.4f\n", reads,
                writes);
    // Issue 8 asks for at most one; it is none (the caller's std::function small enough to fit).
    EXPECT_LE(reads, kMaxPerRead);
    EXPECT_LE(writes, kMaxPerWrite);
}

}  // namespace
}  // namespace iscsikit::target::testing
