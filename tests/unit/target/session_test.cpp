// The full feature phase outside the SCSI data path: CmdSN ordering and the command window
// (RFC 7143 §3.2.2.1, §4.2.2.1), NOP-Out/NOP-In in both directions (§11.18, §11.19), Logout
// (§11.14), and the Reject of PDUs the session does not take (§11.17).
#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

class Session : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        start();
    }

    // Sends TEST UNIT READY with an explicit CmdSN (the client's counter is left alone).
    std::uint32_t send_tur_with_cmd_sn(RawClient& c, std::uint32_t cmd_sn) {
        const std::uint32_t saved = c.cmd_sn;
        auto cmd = c.scsi_command(test_unit_ready(), 0, false, false);
        c.cmd_sn = saved;
        iscsi::ScsiCommandView{cmd.bhs}.set_cmd_sn(cmd_sn);
        EXPECT_TRUE(c.send(cmd));
        return cmd.bhs.initiator_task_tag();
    }

    void expect_reject(RawClient& c, const Pdu& sent, std::uint8_t reason) {
        auto rsp = c.recv();
        ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
        ASSERT_EQ(rsp->bhs.opcode(), Opcode::reject) << describe(*rsp);
        EXPECT_TRUE(rsp->bhs.final());
        EXPECT_EQ(rsp->bhs.u8(2), reason);
        EXPECT_EQ(rsp->bhs.initiator_task_tag(), kReservedTag);
        // §11.17.3: the data segment is the complete header of the rejected PDU.
        ASSERT_EQ(rsp->data.size(), iscsi::kBhsLength);
        auto wire = c.encode(sent);
        EXPECT_TRUE(std::equal(rsp->data.begin(), rsp->data.end(), wire.begin()));
    }
};

// ---- the command window ----

TEST_F(Session, CommandBeyondMaxCmdSnIsIgnoredAndTheWindowStays) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const std::uint32_t exp = client->exp_cmd_sn;
    ASSERT_EQ(exp, client->cmd_sn);
    send_tur_with_cmd_sn(*client, client->max_cmd_sn + 1);
    // RFC 7143 §4.2.2.1: outside [ExpCmdSN, MaxCmdSN] a non-immediate command is silently ignored.
    EXPECT_TRUE(client->expect_silence(1000ms));
    auto r = client->execute(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(iscsi::ScsiResponseView{r.final_pdu.bhs}.exp_cmd_sn(), exp + 1) << "the ignored command took no CmdSN";
}

TEST_F(Session, CommandBelowExpCmdSnIsIgnored) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const std::uint32_t exp = client->exp_cmd_sn;
    send_tur_with_cmd_sn(*client, exp - 1);
    EXPECT_TRUE(client->expect_silence(1000ms));
    auto r = client->execute(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(iscsi::ScsiResponseView{r.final_pdu.bhs}.exp_cmd_sn(), exp + 1);
}

TEST_F(Session, CommandAheadOfAGapIsHeldUntilTheGapFills) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const std::uint32_t exp = client->exp_cmd_sn;
    const std::uint32_t later = send_tur_with_cmd_sn(*client, exp + 1);
    EXPECT_TRUE(client->expect_silence(300ms)) << "§3.2.2.1: commands are delivered in CmdSN order";
    const std::uint32_t first = send_tur_with_cmd_sn(*client, exp);
    auto r1 = client->collect(first);
    ASSERT_TRUE(r1.completed) << r1.error;
    EXPECT_EQ(r1.status, 0);
    auto r2 = client->collect(later);
    ASSERT_TRUE(r2.completed) << r2.error;
    EXPECT_EQ(r2.status, 0);
    EXPECT_EQ(iscsi::ScsiResponseView{r2.final_pdu.bhs}.exp_cmd_sn(), exp + 2);
    client->cmd_sn = exp + 2;
    EXPECT_EQ(client->execute(test_unit_ready(), 0, false, false).status, 0);
}

TEST_F(Session, ImmediateCommandsDoNotAdvanceExpCmdSn) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const std::uint32_t exp = client->exp_cmd_sn;
    // §3.2.2.1: an immediate PDU carries the next CmdSN but does not take it.
    ASSERT_TRUE(client->send(client->nop_out({}, true)));
    auto nop = client->recv();
    ASSERT_TRUE(nop);
    ASSERT_EQ(nop->bhs.opcode(), Opcode::nop_in);
    EXPECT_EQ(iscsi::NopInView{nop->bhs}.exp_cmd_sn(), exp);
    auto tmf = client->task_management(iscsi::TaskFunction::abort_task, 0x5555, exp - 1);
    ASSERT_TRUE(client->send(tmf));
    auto tmf_rsp = client->recv();
    ASSERT_TRUE(tmf_rsp);
    EXPECT_EQ(iscsi::TaskManagementResponseView{tmf_rsp->bhs}.exp_cmd_sn(), exp);
    auto r = client->execute(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(iscsi::ScsiResponseView{r.final_pdu.bhs}.exp_cmd_sn(), exp + 1);
}

// ---- NOP ----

TEST_F(Session, NopOutPingIsEchoedWithItsDataInANopIn) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const std::uint32_t exp = client->exp_cmd_sn;
    const auto payload = to_bytes("are you there? 0123456789");  // 25 bytes: padded on the wire
    auto ping = client->nop_out(payload);
    ASSERT_TRUE(client->send(ping));
    auto rsp = client->recv();
    ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
    ASSERT_EQ(rsp->bhs.opcode(), Opcode::nop_in);
    iscsi::NopInView nop{rsp->bhs};
    EXPECT_TRUE(rsp->bhs.final());
    EXPECT_EQ(rsp->bhs.initiator_task_tag(), ping.bhs.initiator_task_tag());
    EXPECT_EQ(nop.target_transfer_tag(), kReservedTag);
    EXPECT_EQ(rsp->data, payload);
    EXPECT_EQ(nop.exp_cmd_sn(), exp + 1) << "a non-immediate ping takes its CmdSN";
}

TEST_F(Session, PingLongerThanTheInitiatorCanReceiveIsRejectedNotEchoed) {
    // We declare MaxRecvDataSegmentLength=512: a 4 KiB echo could not be sent to us (§13.12).
    auto client = logged_in({{"MaxRecvDataSegmentLength", "512"}});
    ASSERT_NE(client, nullptr);
    auto ping = client->nop_out(pattern(4096, 3));
    const auto sent = client->encode(ping);
    ASSERT_TRUE(client->send_bytes(sent));
    auto rsp = client->recv();
    ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
    ASSERT_EQ(rsp->bhs.opcode(), Opcode::reject) << describe(*rsp);
    EXPECT_EQ(iscsi::RejectView{rsp->bhs}.reason(), iscsi::RejectReason::protocol_error);
    ASSERT_EQ(rsp->data.size(), iscsi::kBhsLength);
    EXPECT_TRUE(std::equal(rsp->data.begin(), rsp->data.end(), sent.begin())) << "the Reject carries the ping's header";
    // A ping that fits is still echoed on the same connection.
    auto small = client->nop_out(pattern(512, 4));
    ASSERT_TRUE(client->send(small));
    auto echo = client->recv();
    ASSERT_TRUE(echo) << recv_error_name(echo.error());
    ASSERT_EQ(echo->bhs.opcode(), Opcode::nop_in) << describe(*echo);
    EXPECT_EQ(echo->data, small.data);
}

class TargetPing : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        start([](DaemonConfig& c) {
            c.nop_interval_seconds = 1;
            c.nop_timeout_seconds = 1;
        });
    }

    void expect_ping(const Pdu& pdu) {
        ASSERT_EQ(pdu.bhs.opcode(), Opcode::nop_in) << describe(pdu);
        // RFC 7143 §11.19: a target ping has ITT 0xffffffff and a TTT the initiator echoes.
        EXPECT_EQ(pdu.bhs.initiator_task_tag(), kReservedTag);
        EXPECT_NE(iscsi::NopInView{pdu.bhs}.target_transfer_tag(), kReservedTag);
        EXPECT_TRUE(pdu.data.empty());
    }
};

TEST_F(TargetPing, IdleInitiatorThatDoesNotAnswerIsDropped) {
    auto client = logged_in({}, false);
    ASSERT_NE(client, nullptr);
    auto ping = client->recv(3000ms);
    ASSERT_TRUE(ping) << recv_error_name(ping.error());
    expect_ping(*ping);
    EXPECT_TRUE(client->expect_closed(3500ms)) << "nop_timeout is 1 s";
}

TEST_F(TargetPing, AnsweredPingsKeepTheConnection) {
    auto client = logged_in({}, false);
    ASSERT_NE(client, nullptr);
    int pings = 0;
    const auto until = Clock::now() + 3500ms;
    while (Clock::now() < until) {
        auto pdu = client->recv(std::chrono::duration_cast<Ms>(until - Clock::now()));
        if (!pdu && pdu.error() == RecvError::timeout) break;
        ASSERT_TRUE(pdu) << recv_error_name(pdu.error());
        expect_ping(*pdu);
        ++pings;
        ASSERT_TRUE(client->send(client->nop_reply(*pdu)));
    }
    EXPECT_GE(pings, 1);
    auto r = client->execute(test_unit_ready(), 0, false, false);
    EXPECT_TRUE(r.completed) << r.error;
}

// ---- logout ----

TEST_F(Session, LogoutClosingTheSessionIsAnsweredThenTheConnectionCloses) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    auto logout = client->logout();
    ASSERT_TRUE(client->send(logout));
    auto rsp = client->recv();
    ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
    ASSERT_EQ(rsp->bhs.opcode(), Opcode::logout_response);
    iscsi::LogoutResponseView view{rsp->bhs};
    EXPECT_TRUE(rsp->bhs.final());
    EXPECT_EQ(view.response(), 0);
    EXPECT_EQ(rsp->bhs.initiator_task_tag(), logout.bhs.initiator_task_tag());
    EXPECT_EQ(view.exp_cmd_sn(), client->cmd_sn);
    EXPECT_TRUE(client->expect_closed(2000ms));
    expect_fresh_login_works();
}

// SPC-4 §6.13, SAM-5 §6.3.4: PREVENT ALLOW MEDIUM REMOVAL's prevention ends with the I_T nexus.
// An initiator may log in again the moment the Logout Response arrives, with the same ISID and
// name (the same nexus); its new session must not find the old one's prevention, however the
// reactors are scheduled (libiscsi's PreventAllow.Logout failed under ASan when the release
// waited for the old connection to close).
class RemovableSession : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        start([](DaemonConfig& config) {
            for (auto& lun : config.targets.front().luns) lun.removable = true;
        });
    }
};

TEST_F(RemovableSession, LogoutReleasesPreventBeforeItsResponse) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    Cdb prevent{};
    prevent[0] = 0x1e;  // PREVENT ALLOW MEDIUM REMOVAL, PREVENT = 01b
    prevent[4] = 0x01;
    ASSERT_EQ(client->execute(prevent, 0, false, false).status, 0);
    ASSERT_TRUE(client->send(client->logout()));
    auto rsp = client->recv();
    ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
    ASSERT_EQ(rsp->bhs.opcode(), Opcode::logout_response) << describe(*rsp);

    auto again = connect();
    again->isid = client->isid;  // the same I_T nexus
    again->initiator_name = client->initiator_name;
    auto login = again->login(libiscsi_keys(again->initiator_name));
    ASSERT_TRUE(login && login->status() == 0);
    again->execute(test_unit_ready(), 0, false, false);  // a unit attention, if one is pending
    Cdb eject{};
    eject[0] = 0x1b;  // START STOP UNIT, LOEJ = 1, START = 0
    eject[4] = 0x02;
    auto r = again->execute(eject, 0, false, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0) << "sense " << int(r.sense_key()) << "/" << int(r.asc()) << "/" << int(r.ascq())
                           << ": the old session's PREVENT outlived its logout";
}

// ---- PDUs the session rejects ----

// ---- Text in full feature phase (RFC 7143 §11.10, §13) ----

// Sends one Text Request with `keys` and returns the final response's pairs.
TextPairs text_exchange(RawClient& c, const TextPairs& keys) {
    std::vector<std::byte> text;
    for (const auto& [key, value] : keys) iscsi::append_text(text, key, value);
    const std::uint32_t itt = c.take_itt();
    EXPECT_TRUE(c.send(c.text_request(itt, std::move(text))));
    auto rsp = c.recv();
    if (!rsp) {
        ADD_FAILURE() << recv_error_name(rsp.error());
        return {};
    }
    EXPECT_EQ(rsp->bhs.opcode(), Opcode::text_response) << describe(*rsp);
    EXPECT_TRUE(rsp->bhs.final());
    EXPECT_EQ(rsp->bhs.initiator_task_tag(), itt);
    auto pairs = iscsi::parse_text(ConstByteSpan(rsp->data.data(), rsp->data.size()));
    EXPECT_TRUE(pairs);
    return pairs ? *pairs : TextPairs{};
}

TEST_F(Session, SendTargetsInANormalSessionIsAnsweredWithThisTarget) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const auto pairs = text_exchange(*client, {{"SendTargets", "All"}});
    ASSERT_FALSE(pairs.empty());
    EXPECT_EQ(pairs.front(), (std::pair<std::string, std::string>{"TargetName", kTargetIqn}));
}

TEST_F(Session, MaxRecvDataSegmentLengthDeclaredInFullFeaturePhaseBoundsLaterPdus) {
    // §13.12: "ALL", declarative: logged in with 8 KiB, the initiator declares 512 bytes.
    auto client = logged_in({{"MaxRecvDataSegmentLength", "8192"}});
    ASSERT_NE(client, nullptr);
    auto before = client->nop_out(pattern(4096, 1));
    ASSERT_TRUE(client->send(before));
    auto echo = client->recv();
    ASSERT_TRUE(echo) << recv_error_name(echo.error());
    ASSERT_EQ(echo->bhs.opcode(), Opcode::nop_in) << "4 KiB fits the login's 8 KiB: " << describe(*echo);

    EXPECT_TRUE(text_exchange(*client, {{"MaxRecvDataSegmentLength", "512"}}).empty())
        << "nothing is answered to a declaration";
    auto after = client->nop_out(pattern(4096, 2));
    ASSERT_TRUE(client->send(after));
    auto rsp = client->recv();
    ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
    EXPECT_EQ(rsp->bhs.opcode(), Opcode::reject) << "a 4 KiB echo no longer fits: " << describe(*rsp);
}

TEST_F(Session, LoginOnlyKeysInFullFeaturePhaseAreRejectedAndUnknownOnesNotUnderstood) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const auto pairs = text_exchange(*client, {{"MaxBurstLength", "4096"},
                                               {"HeaderDigest", "CRC32C"},
                                               {"X-com.example.Foo", "1"},
                                               {"InitiatorAlias", "host"},
                                               {"MaxRecvDataSegmentLength", "100"}});
    const TextPairs expected{{"MaxBurstLength", "Reject"},
                             {"HeaderDigest", "Reject"},
                             {"X-com.example.Foo", "NotUnderstood"},
                             {"MaxRecvDataSegmentLength", "Reject"}};  // below §13.12's 512
    EXPECT_EQ(pairs, expected);
    // The session goes on with the login's values: a ping still works.
    auto ping = client->nop_out(to_bytes("still here"));
    ASSERT_TRUE(client->send(ping));
    auto echo = client->recv();
    ASSERT_TRUE(echo) << recv_error_name(echo.error());
    EXPECT_EQ(echo->bhs.opcode(), Opcode::nop_in) << describe(*echo);
}

TEST_F(Session, SnackAtErrorRecoveryLevelZeroIsRejectedAsProtocolError) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    Pdu snack;
    snack.bhs.set_opcode(Opcode::snack_request);
    snack.bhs.set_final(true);
    snack.bhs.set_initiator_task_tag(0x1234);
    snack.bhs.set_u32(20, kReservedTag);
    snack.bhs.set_u32(28, client->exp_stat_sn);
    ASSERT_TRUE(client->send(snack));
    expect_reject(*client, snack, 0x04);
    EXPECT_EQ(client->execute(test_unit_ready(), 0, false, false).status, 0);
}

TEST_F(Session, UnknownOpcodeIsRejectedAsCommandNotSupportedWithItsHeader) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    Pdu odd;
    odd.bhs.set_u8(0, 0x1c);
    odd.bhs.set_final(true);
    odd.bhs.set_initiator_task_tag(0x4321);
    odd.bhs.set_u32(24, client->cmd_sn);
    ASSERT_TRUE(client->send(odd));
    expect_reject(*client, odd, 0x05);
    EXPECT_EQ(client->execute(test_unit_ready(), 0, false, false).status, 0);
}

}  // namespace
}  // namespace iscsikit::target::testing
