// The initiator against a scripted target on the test's own io_context: one that logs in
// properly (through iscsi::TargetNegotiator) and then answers SCSI commands only as the test
// says. Covers what the real target never does on purpose: commands that never complete, an
// ABORT TASK that is answered or not, the connection recovery that follows, and logins
// redirected elsewhere.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "initiator/session.hpp"
#include "iscsi/params.hpp"
#include "iscsi/text.hpp"
#include "iscsi/wire.hpp"
#include "scsi/initiator_cdb.hpp"

namespace iscsikit::initiator {
namespace {

using asio::use_awaitable;
using asio::experimental::as_tuple;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr const char* kIqn = "iqn.2026-11.org.iscsikit:fake";

struct Script {
    bool answer_commands = false;  // GOOD for every SCSI command; otherwise never answered
    bool answer_aborts = true;     // TMF response "function complete"
    // TargetAddress values the next Login Requests are redirected to (status 0101), in order; an
    // empty one redirects with no TargetAddress at all.
    std::vector<std::string> redirects;
    int logins = 0, commands = 0, aborts = 0, redirected = 0;
};

// One connection of the scripted target.
asio::awaitable<void> serve(tcp::socket socket, Script& script) {
    iscsi::ReceiveBuffer rx;
    iscsi::TargetNegotiator negotiator(iscsi::LocalLimits{}, true);
    std::uint32_t stat_sn = 1, exp_cmd_sn = 0;
    auto reply = [&](iscsi::Bhs bhs, const std::vector<std::byte>& data) -> asio::awaitable<bool> {
        iscsi::SendBatch batch;
        batch.add(bhs, data, false, false);
        std::vector<iscsi::OutSegment> segments;
        batch.segments(segments);
        std::vector<asio::const_buffer> iov;
        for (auto s : segments) iov.emplace_back(s.bytes.data(), s.bytes.size());
        auto [ec, n] = co_await asio::async_write(socket, iov, as_tuple(use_awaitable));
        co_return !ec;
    };
    for (;;) {
        auto next = rx.next(iscsi::FrameLimits{1u << 20, false, false});
        if (!next) co_return;
        if (!*next) {
            auto space = rx.space();
            auto [ec, n] =
                co_await socket.async_read_some(asio::buffer(space.data(), space.size()), as_tuple(use_awaitable));
            if (ec) co_return;
            rx.commit(n);
            continue;
        }
        const iscsi::Bhs req = (*next)->bhs;
        const std::vector<std::byte> data((*next)->data.begin(), (*next)->data.end());
        iscsi::Bhs rsp;
        rsp.set_initiator_task_tag(req.initiator_task_tag());
        rsp.set_final(true);
        std::vector<std::byte> out;
        switch (req.opcode()) {
            case iscsi::Opcode::login_request: {
                iscsi::LoginRequestView in{req};
                exp_cmd_sn = in.cmd_sn();
                if (!script.redirects.empty()) {  // RFC 7143 §11.13.5: "target moved temporarily"
                    rsp.set_opcode(iscsi::Opcode::login_response);
                    iscsi::LoginResponseView v{rsp};
                    v.set_isid(in.isid());
                    v.set_status(iscsi::LoginStatus::target_moved_temporarily);
                    v.set_stat_sn(stat_sn++);
                    v.set_exp_cmd_sn(exp_cmd_sn);
                    v.set_max_cmd_sn(exp_cmd_sn + 31);
                    const std::string address = script.redirects.front();
                    script.redirects.erase(script.redirects.begin());
                    ++script.redirected;
                    if (!address.empty()) out = iscsi::build_text({{"TargetAddress", address}});
                    break;
                }
                auto offered = iscsi::parse_text(data);
                iscsi::TextPairs answers;
                const bool security = in.current_stage() == iscsi::LoginStage::security;
                negotiator.respond(*offered, security, answers);
                negotiator.declare_target_keys(1, answers, security);
                rsp.set_opcode(iscsi::Opcode::login_response);
                iscsi::LoginResponseView v{rsp};
                v.set_transit(in.transit());
                v.set_stages(in.current_stage(), in.next_stage());
                v.set_isid(in.isid());
                v.set_tsih(in.next_stage() == iscsi::LoginStage::full_feature ? 7 : 0);
                v.set_stat_sn(stat_sn++);
                v.set_exp_cmd_sn(exp_cmd_sn);
                v.set_max_cmd_sn(exp_cmd_sn + 31);
                if (in.next_stage() == iscsi::LoginStage::full_feature) ++script.logins;
                out = iscsi::build_text(answers);
                break;
            }
            case iscsi::Opcode::scsi_command: {
                ++script.commands;
                if (!req.immediate()) ++exp_cmd_sn;
                if (!script.answer_commands) continue;
                rsp.set_opcode(iscsi::Opcode::scsi_response);
                iscsi::ScsiResponseView v{rsp};
                v.set_stat_sn(stat_sn++);
                v.set_exp_cmd_sn(exp_cmd_sn);
                v.set_max_cmd_sn(exp_cmd_sn + 31);
                break;
            }
            case iscsi::Opcode::task_management_request: {
                ++script.aborts;
                if (!script.answer_aborts) continue;
                rsp.set_opcode(iscsi::Opcode::task_management_response);
                iscsi::TaskManagementResponseView v{rsp};
                v.set_response(static_cast<std::uint8_t>(iscsi::TaskResponse::complete));
                v.set_stat_sn(stat_sn++);
                v.set_exp_cmd_sn(exp_cmd_sn);
                v.set_max_cmd_sn(exp_cmd_sn + 31);
                break;
            }
            case iscsi::Opcode::nop_out:
                if (req.initiator_task_tag() == iscsi::kReservedTag) continue;
                rsp.set_opcode(iscsi::Opcode::nop_in);
                iscsi::NopInView{rsp}.set_target_transfer_tag(iscsi::kReservedTag);
                iscsi::NopInView{rsp}.set_stat_sn(stat_sn++);
                iscsi::NopInView{rsp}.set_exp_cmd_sn(exp_cmd_sn);
                iscsi::NopInView{rsp}.set_max_cmd_sn(exp_cmd_sn + 31);
                break;
            default: continue;
        }
        if (!co_await reply(rsp, out)) co_return;
    }
}

class FakeTargetTest : public ::testing::Test {
protected:
    void SetUp() override {
        spdlog::set_level(spdlog::level::off);
        acceptor_.open(tcp::v4());
        acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        acceptor_.listen();
        asio::co_spawn(io_, accept_loop(), asio::detached);
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
            if (ec) co_return;
            last_ = std::make_shared<tcp::socket>(std::move(socket));
            asio::co_spawn(io_, serve(std::move(*last_), script_), asio::detached);
        }
    }

    Result<std::shared_ptr<Session>> try_connect(SessionOptions opts) {
        Url url;
        url.portal = Portal{"127.0.0.1", acceptor_.local_endpoint().port()};
        url.target = kIqn;
        std::optional<Result<std::shared_ptr<Session>>> out;
        asio::co_spawn(
            io_,
            [&]() -> asio::awaitable<void> { out.emplace(co_await Session::connect(io_.get_executor(), url, opts)); },
            asio::detached);
        while (!out) io_.run_one();
        return std::move(*out);
    }

    std::shared_ptr<Session> connect(SessionOptions opts) {
        auto out = try_connect(opts);
        EXPECT_TRUE(out) << (out ? "" : out.error().message);
        return out ? *out : nullptr;
    }

    // Submits TEST UNIT READY and runs until it completes or `limit` passes.
    std::optional<Result<Completion>> tur(Session& s, std::chrono::milliseconds limit) {
        std::optional<Result<Completion>> out;
        Command c;
        c.cdb = scsi::build::test_unit_ready();
        s.submit(c, [&](Result<Completion> r) { out.emplace(std::move(r)); });
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!out && std::chrono::steady_clock::now() < deadline) io_.run_for(10ms);
        return out;
    }

    asio::io_context io_;
    tcp::acceptor acceptor_{io_};
    std::shared_ptr<tcp::socket> last_;
    Script script_;
};

SessionOptions quick() {
    SessionOptions opts;
    opts.command_timeout = 300ms;
    opts.abort_timeout = 300ms;
    opts.nop_interval = 0ms;
    opts.reconnect_timeout = 5s;
    return opts;
}

TEST_F(FakeTargetTest, ACommandThatNeverCompletesIsAbortedAndReportedAsTimeout) {
    auto s = connect(quick());
    ASSERT_NE(s, nullptr);
    auto r = tur(*s, 3s);
    ASSERT_TRUE(r.has_value()) << "no completion within 3 s";
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error().kind, ErrorKind::timeout);
    EXPECT_NE(r->error().message.find("timed out"), std::string::npos) << r->error().message;
    EXPECT_EQ(script_.aborts, 1);
    EXPECT_EQ(s->stats().aborts, 1u);
    EXPECT_EQ(script_.logins, 1);  // the abort was answered: the connection stays
    // The session still works afterwards.
    script_.answer_commands = true;
    auto ok = tur(*s, 3s);
    ASSERT_TRUE(ok.has_value() && *ok);
    EXPECT_TRUE((*ok)->good());
}

TEST_F(FakeTargetTest, AnUnansweredAbortRecoversTheConnection) {
    script_.answer_aborts = false;
    auto s = connect(quick());
    ASSERT_NE(s, nullptr);
    auto r = tur(*s, 5s);
    ASSERT_TRUE(r.has_value()) << "no completion within 5 s";
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error().kind, ErrorKind::timeout);
    // ABORT TASK went unanswered: the session logged in again on a new connection. The script
    // counts the login when it sends the final response; the session counts the reconnect when
    // it has read that response, a little later, so wait for both.
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while ((script_.logins < 2 || s->stats().reconnects < 1) && std::chrono::steady_clock::now() < deadline) {
        io_.run_for(10ms);
    }
    EXPECT_EQ(script_.logins, 2);
    EXPECT_GE(s->stats().reconnects, 1u);
    script_.answer_commands = true;
    auto ok = tur(*s, 3s);
    ASSERT_TRUE(ok.has_value() && *ok);
    EXPECT_TRUE((*ok)->good());
}

// RFC 7143 §11.13.5: a redirected login is tried again at the TargetAddress (here the same
// fake target, whose next answer is a normal login).
TEST_F(FakeTargetTest, ARedirectedLoginFollowsTheTargetAddress) {
    script_.redirects = {fmt::format("127.0.0.1:{},1", acceptor_.local_endpoint().port())};
    auto s = connect(quick());
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(script_.redirected, 1);
    EXPECT_EQ(script_.logins, 1);
}

// A redirection the initiator cannot follow fails the login with a message that says why, not
// only the status.
TEST_F(FakeTargetTest, ARedirectThatCannotBeFollowedSaysWhy) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"", "names no TargetAddress"},
        {"no such host:99999,1", "its TargetAddress cannot be followed: invalid portal 'no such host:99999'"},
    };
    for (const auto& [address, expected] : cases) {
        script_.redirects = {address};
        auto out = try_connect(quick());
        ASSERT_FALSE(out) << "a login redirected to '" << address << "' succeeded";
        EXPECT_NE(out.error().message.find("moved away"), std::string::npos) << out.error().message;
        EXPECT_NE(out.error().message.find(expected), std::string::npos) << out.error().message;
    }
    EXPECT_EQ(script_.logins, 0);
}

// A target that keeps redirecting is followed a bounded number of times.
TEST_F(FakeTargetTest, RedirectsAreFollowedABoundedNumberOfTimes) {
    const std::string self = fmt::format("127.0.0.1:{},1", acceptor_.local_endpoint().port());
    script_.redirects.assign(10, self);
    auto out = try_connect(quick());
    ASSERT_FALSE(out);
    EXPECT_NE(out.error().message.find("gave up after 3 redirects"), std::string::npos) << out.error().message;
    EXPECT_EQ(script_.redirected, 4);  // the first login and three redirects
    EXPECT_EQ(script_.logins, 0);
}

}  // namespace
}  // namespace iscsikit::initiator
