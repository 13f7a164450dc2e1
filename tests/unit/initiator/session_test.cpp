// The initiator session against the project's own target over loopback: login, commands with
// immediate/unsolicited/solicited data, Data-In reassembly, the CmdSN window under load, unit
// attention retries, discovery, login errors and reconnect with re-issue.
#include <gtest/gtest.h>

#include <random>

#include "initiator/scsi_ops.hpp"
#include "initiator/session.hpp"
#include "loopback.hpp"
#include "scsi/initiator_cdb.hpp"

namespace iscsikit::initiator::testing {
namespace {

using target::testing::kBlock;
using target::testing::kLunBytes;

Command read16(std::uint64_t lun, std::uint64_t lba, std::span<std::byte> buffer) {
    Command c;
    c.lun = lun;
    c.cdb = scsi::build::read16(lba, static_cast<std::uint32_t>(buffer.size() / kBlock));
    c.direction = DataDirection::read;
    c.read_buffer = buffer;
    return c;
}

Command write16(std::uint64_t lun, std::uint64_t lba, std::span<const std::byte> data) {
    Command c;
    c.lun = lun;
    c.cdb = scsi::build::write16(lba, static_cast<std::uint32_t>(data.size() / kBlock));
    c.direction = DataDirection::write;
    c.write_data = data;
    return c;
}

class SessionTest : public LoopbackTest {};

TEST_F(SessionTest, LogsInAndRetriesThePowerOnUnitAttention) {
    start();
    auto s = connect();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->params().target_name, target::testing::kTargetIqn);
    EXPECT_TRUE(s->params().immediate_data);
    Command tur;
    tur.cdb = scsi::build::test_unit_ready();
    auto done = run<Result<Completion>>([&] { return s->execute(tur); });
    ASSERT_TRUE(done) << done.error().message;
    // The target reports 29h/00h once on a new nexus; the session sent the command again.
    EXPECT_TRUE(done->good());
    EXPECT_EQ(s->stats().unit_attention_retries, 1u);
}

TEST_F(SessionTest, WritesAndReadsBackAWholeLunInOneCommand) {
    start();
    auto s = connect();
    ASSERT_NE(s, nullptr);
    // 1 MiB: immediate data (FirstBurstLength), then R2T-solicited Data-Out for the rest; the read
    // comes back in several Data-In PDUs that are reassembled in order.
    const auto data = random_bytes(kLunBytes, 1);
    auto w = run<Result<Completion>>([&] { return s->execute(write16(0, 0, data)); });
    ASSERT_TRUE(w) << w.error().message;
    EXPECT_TRUE(w->good());
    EXPECT_EQ(w->transferred, kLunBytes);
    std::vector<std::byte> back(kLunBytes);
    auto r = run<Result<Completion>>([&] { return s->execute(read16(0, 0, back)); });
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->good());
    EXPECT_EQ(r->transferred, kLunBytes);
    EXPECT_EQ(back, data);
}

TEST_F(SessionTest, ManyCommandsInFlightStayWithinTheWindowAndAllComplete) {
    start();
    auto s = connect();
    ASSERT_NE(s, nullptr);
    const auto data = random_bytes(kLunBytes, 2);
    constexpr std::size_t kChunk = 4096, kCount = kLunBytes / kChunk;  // 256 commands at once
    std::size_t done = 0, good = 0;
    for (std::size_t i = 0; i < kCount; ++i)
        s->submit(write16(0, i * kChunk / kBlock, std::span(data).subspan(i * kChunk, kChunk)),
                  [&](Result<Completion> r) {
                      ++done;
                      good += r && r->good();
                  });
    EXPECT_GT(s->outstanding(), 0u);
    while (done < kCount) io_.run_one();
    EXPECT_EQ(good, kCount);
    std::vector<std::byte> back(kLunBytes);
    done = good = 0;
    for (std::size_t i = 0; i < kCount; ++i)
        s->submit(read16(0, i * kChunk / kBlock, std::span(back).subspan(i * kChunk, kChunk)),
                  [&](Result<Completion> r) {
                      ++done;
                      good += r && r->good();
                  });
    while (done < kCount) io_.run_one();
    EXPECT_EQ(good, kCount);
    EXPECT_EQ(back, data);
    EXPECT_EQ(s->outstanding(), 0u);
}

TEST_F(SessionTest, ScsiErrorsComeBackAsReadableErrors) {
    start();
    auto s = connect();
    ASSERT_NE(s, nullptr);
    std::vector<std::byte> buffer(kBlock);
    auto r = run<Result<void>>([&] { return read_blocks(*s, 0, kLunBytes / kBlock, kBlock, buffer); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::scsi_error);
    EXPECT_NE(r.error().message.find("LBA out of range"), std::string::npos) << r.error().message;
    auto missing = run<Result<scsi::parse::Capacity>>([&] { return read_capacity(*s, 7); });
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::no_such_lun) << missing.error().message;
}

TEST_F(SessionTest, DiscoveryListsTheTargetAndItsPortal) {
    start();
    Url u = url();
    u.target.clear();
    auto targets = run<Result<std::vector<DiscoveredTarget>>>([&] { return discover(io_.get_executor(), u); });
    ASSERT_TRUE(targets) << targets.error().message;
    ASSERT_EQ(targets->size(), 1u);
    EXPECT_EQ((*targets)[0].name, target::testing::kTargetIqn);
    ASSERT_FALSE((*targets)[0].addresses.empty());
    EXPECT_NE((*targets)[0].addresses[0].find(std::to_string(port())), std::string::npos);
}

TEST_F(SessionTest, UnknownTargetAndClosedPortFailWithTheirKinds) {
    start();
    auto unknown = run<Result<std::shared_ptr<Session>>>(
        [&] { return Session::connect(io_.get_executor(), url(0, "iqn.2026-11.org.iscsikit:nope")); });
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().kind, ErrorKind::target_not_found);
    EXPECT_NE(unknown.error().message.find("not found"), std::string::npos) << unknown.error().message;

    Url closed = url();
    closed.portal.port = target::testing::pick_free_port();
    auto refused = run<Result<std::shared_ptr<Session>>>([&] { return Session::connect(io_.get_executor(), closed); });
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, ErrorKind::unreachable);
    EXPECT_NE(refused.error().message.find("cannot connect"), std::string::npos) << refused.error().message;
}

TEST_F(SessionTest, CommandsInFlightAcrossATargetRestartCompleteOnceEach) {
    const std::uint16_t fixed = target::testing::pick_free_port();
    auto on_fixed_port = [&](target::DaemonConfig& c) { c.targets[0].portals[0].port = fixed; };
    start(on_fixed_port);
    SessionOptions opts;
    opts.reconnect_timeout = std::chrono::seconds(20);
    auto s = connect(opts);
    ASSERT_NE(s, nullptr);
    const auto data = random_bytes(64 * 1024, 3);
    // The target goes away with the session logged in; commands submitted now wait for the
    // reconnect, and the ones in flight are re-issued.
    server().stop(std::chrono::milliseconds(0));
    std::size_t done = 0, good = 0;
    for (int i = 0; i < 16; ++i)
        s->submit(write16(0, static_cast<std::uint64_t>(i) * 128, data), [&](Result<Completion> r) {
            ++done;
            good += r && r->good();
        });
    // Let the session notice and start reconnecting, then bring the target back on the same port.
    for (int i = 0; i < 50 && done == 0; ++i) io_.run_for(std::chrono::milliseconds(10));
    start(on_fixed_port);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (done < 16 && std::chrono::steady_clock::now() < deadline) io_.run_for(std::chrono::milliseconds(20));
    EXPECT_EQ(done, 16u);
    EXPECT_EQ(good, 16u);
    EXPECT_GE(s->stats().reconnects, 1u);
    std::vector<std::byte> back(data.size());
    auto r = run<Result<Completion>>([&] { return s->execute(read16(0, 15 * 128, back)); });
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(back, data);
}

}  // namespace
}  // namespace iscsikit::initiator::testing

namespace iscsikit::initiator::testing {
namespace {

// Two portals on the target; the URL names the first, --portal the second.
void two_portals(target::DaemonConfig& c) {
    c.targets[0].portals = {target::PortalAddress{"127.0.0.1", target::testing::pick_free_port()},
                            target::PortalAddress{"127.0.0.1", target::testing::pick_free_port()}};
}

TEST_F(SessionTest, RoundRobinLogsInOnEveryPortalAndSpreadsCommands) {
    start(two_portals);
    const auto endpoints = server().bound_endpoints();
    ASSERT_EQ(endpoints.size(), 2u);
    SessionOptions opts;
    opts.path_policy = PathPolicy::round_robin;
    opts.extra_portals.push_back(Portal{"127.0.0.1", endpoints[1].port()});
    auto s = connect(opts);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->path_count(), 2u);
    EXPECT_EQ(s->paths_up(), 2u);
    EXPECT_EQ(server().sessions().size(), 2u);  // one session (one ISID) per path
    const auto data = random_bytes(64 * 1024, 4);
    std::size_t done = 0, good = 0;
    for (int i = 0; i < 32; ++i)
        s->submit(write16(1, static_cast<std::uint64_t>(i % 16) * 128, data), [&](Result<Completion> r) {
            ++done;
            good += r && r->good();
        });
    while (done < 32) io_.run_one();
    EXPECT_EQ(good, 32u);
    // Each path answered its first command with the power-on unit attention: both carried work.
    EXPECT_EQ(s->total_stats().unit_attention_retries, 2u);
    EXPECT_EQ(s->total_stats().commands, 32u);
}

TEST_F(SessionTest, FailoverSkipsAPortalThatDoesNotAnswer) {
    start();
    SessionOptions opts;
    Url u = url();
    const std::uint16_t good_port = u.portal.port;
    u.portal.port = target::testing::pick_free_port();  // nobody listens there
    opts.extra_portals.push_back(Portal{"127.0.0.1", good_port});
    auto s = run<Result<std::shared_ptr<Session>>>([&] { return Session::connect(io_.get_executor(), u, opts); });
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ((*s)->current_portal().port, good_port);
    Command tur;
    tur.cdb = scsi::build::test_unit_ready();
    auto done = run<Result<Completion>>([&] { return (*s)->execute(tur); });
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_TRUE(done->good());
}

}  // namespace
}  // namespace iscsikit::initiator::testing

#include "initiator/blocking.hpp"

namespace iscsikit::initiator::testing {
namespace {

TEST_F(SessionTest, AnswersTheTargetsNopInPingsAndStaysLoggedIn) {
    // The target pings an idle initiator every second and drops it after one unanswered second.
    start([](target::DaemonConfig& c) {
        c.nop_interval_seconds = 1;
        c.nop_timeout_seconds = 1;
    });
    SessionOptions opts;
    opts.nop_interval = std::chrono::milliseconds(0);  // only the target pings
    auto s = connect(opts);
    ASSERT_NE(s, nullptr);
    io_.run_for(std::chrono::milliseconds(3500));  // pings come and are answered
    EXPECT_GE(s->stats().target_pings, 2u);
    EXPECT_EQ(s->stats().reconnects, 0u);
    EXPECT_EQ(server().sessions().size(), 1u);
    Command tur;
    tur.cdb = scsi::build::test_unit_ready();
    auto done = run<Result<Completion>>([&] { return s->execute(tur); });
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_TRUE(done->good());
    EXPECT_EQ(s->stats().reconnects, 0u);
}

TEST_F(SessionTest, BlockingWrapperRunsTheHelpersFromAPlainThread) {
    start();
    auto s = BlockingSession::connect(url());
    ASSERT_TRUE(s) << s.error().message;
    auto cap = (*s)->read_capacity(0);
    ASSERT_TRUE(cap) << cap.error().message;
    EXPECT_EQ(cap->block_size, kBlock);
    EXPECT_EQ(cap->bytes(), kLunBytes);
    auto luns = (*s)->report_luns();
    ASSERT_TRUE(luns) << luns.error().message;
    EXPECT_EQ(*luns, (std::vector<std::uint64_t>{0, 1}));
    const auto data = random_bytes(8 * kBlock, 5);
    ASSERT_TRUE((*s)->write_blocks(1, 16, kBlock, data));
    std::vector<std::byte> back(data.size());
    ASSERT_TRUE((*s)->read_blocks(1, 16, kBlock, back));
    EXPECT_EQ(back, data);
    EXPECT_TRUE((*s)->synchronize_cache(1));
    auto missing = (*s)->read_capacity(9);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::no_such_lun);
    (*s)->logout();
}

}  // namespace
}  // namespace iscsikit::initiator::testing
