// The target side of the login phase (RFC 7143 §6, §11.12, §11.13), driven over a loopback socket.
#include <map>

#include "iscsi/serial.hpp"
#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

using iscsi::LoginResponseView;

class Login : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        start();
    }

    // Sends one login request and expects a failure response with `status`, then the close.
    void expect_login_failure(RawClient& client, const Pdu& request, std::uint16_t status) {
        auto rsp = client.login_step(request);
        ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
        EXPECT_EQ(rsp->bhs.opcode(), Opcode::login_response);
        EXPECT_EQ(rsp->bhs.u8(36), status >> 8) << "Status-Class";
        EXPECT_EQ(rsp->bhs.u8(37), status & 0xff) << "Status-Detail";
        EXPECT_EQ(rsp->bhs.initiator_task_tag(), request.bhs.initiator_task_tag());
        EXPECT_FALSE(LoginResponseView{rsp->bhs}.transit());
        // RFC 7143 §11.13.5: a login reject (Status-Class != 0) ends the connection.
        EXPECT_TRUE(client.expect_closed(2000ms));
    }

    Pdu first_request(RawClient& client, const TextPairs& keys) {
        return client.login_request(keys, LoginStage::operational, LoginStage::full_feature, true);
    }
};

TEST_F(Login, LibiscsiStyleOperationalLoginSucceedsAndAnswersEveryOfferedKey) {
    auto client = connect();
    const std::uint32_t cmd_sn = client->cmd_sn;
    auto result = client->login(libiscsi_keys(client->initiator_name));
    ASSERT_TRUE(result) << recv_error_name(result.error());
    const Bhs& bhs = result->response.bhs;
    LoginResponseView rsp{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::login_response);
    EXPECT_EQ(result->status(), 0x0000);
    EXPECT_TRUE(rsp.transit());
    EXPECT_FALSE(rsp.continue_());
    EXPECT_EQ(rsp.current_stage(), LoginStage::operational);
    EXPECT_EQ(rsp.next_stage(), LoginStage::full_feature);
    EXPECT_EQ(rsp.version_max(), 0);
    EXPECT_EQ(rsp.version_active(), 0);
    EXPECT_EQ(rsp.isid(), client->isid);
    EXPECT_NE(rsp.tsih(), 0) << "§11.13.4: the final response of a new session carries its TSIH";
    EXPECT_EQ(bhs.initiator_task_tag(), 0x4c000001u);
    EXPECT_EQ(bhs.total_ahs_length(), 0);
    // §11.13: login is immediate; ExpCmdSN is the request's CmdSN and the window is open.
    EXPECT_EQ(rsp.exp_cmd_sn(), cmd_sn);
    EXPECT_TRUE(iscsi::serial_lt(rsp.exp_cmd_sn(), rsp.max_cmd_sn()))
        << "MaxCmdSN " << rsp.max_cmd_sn() << " ExpCmdSN " << rsp.exp_cmd_sn();
    ASSERT_FALSE(result->response.data.empty());
    EXPECT_EQ(result->response.data.back(), std::byte{0}) << "libiscsi needs NUL-terminated text";

    // §5.2 / §6.2: every negotiated key offered gets exactly one answer; the declarations
    // (InitiatorName, TargetName, SessionType, MaxRecvDataSegmentLength) get none.
    const std::map<std::string, std::string> expected{
        {"HeaderDigest", "None"},  // first value of "None,CRC32C" we support
        {"DataDigest", "None"},
        {"InitialR2T", "No"},          // OR of No and No
        {"ImmediateData", "Yes"},      // AND of Yes and Yes
        {"MaxBurstLength", "262144"},  // min(262144, ours)
        {"FirstBurstLength", "262144"},
        {"DefaultTime2Wait", "2"},    // max
        {"DefaultTime2Retain", "0"},  // min(0, 20)
        {"MaxOutstandingR2T", "1"},
        {"ErrorRecoveryLevel", "0"},
        {"IFMarker", "No"},  // §13.25
        {"OFMarker", "No"},
        {"MaxConnections", "1"},
        {"DataPDUInOrder", "Yes"},
        {"DataSequenceInOrder", "Yes"},
        {"MaxRecvDataSegmentLength", "262144"},  // the target's own declaration (§13.12)
        {"TargetPortalGroupTag", "1"},           // §13.9: declared once TargetName has come
    };
    std::map<std::string, std::string> got;
    for (const auto& [k, v] : result->answers) {
        EXPECT_TRUE(got.emplace(k, v).second) << "key answered twice: " << k;
    }
    EXPECT_EQ(got, expected);

    // The session works: the first command sees the power-on unit attention.
    auto tur = client->execute(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(tur.completed) << tur.error;
    EXPECT_EQ(tur.status, 0x02);
    EXPECT_EQ(tur.sense_key(), 0x06);
    EXPECT_EQ(tur.asc(), 0x29);
    EXPECT_EQ(tur.ascq(), 0x00);
}

TEST_F(Login, NumericKeysSettleToTheMinimumAndFirstBurstNeverExceedsMaxBurst) {
    auto client = connect();
    auto result = client->login(with(libiscsi_keys(client->initiator_name), {{"MaxBurstLength", "16384"},
                                                                             {"FirstBurstLength", "262144"},
                                                                             {"HeaderDigest", "CRC32C,None"},
                                                                             {"DataDigest", "CRC32C"}}));
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status(), 0);
    EXPECT_EQ(result->answer("MaxBurstLength"), "16384");
    // RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength.
    EXPECT_EQ(result->answer("FirstBurstLength"), "16384");
    EXPECT_EQ(result->answer("HeaderDigest"), "CRC32C");
    EXPECT_EQ(result->answer("DataDigest"), "CRC32C");
}

TEST_F(Login, InitialR2TYesAndImmediateDataNoMakeFirstBurstLengthIrrelevant) {
    auto client = connect();
    auto result =
        client->login(with(libiscsi_keys(client->initiator_name), {{"InitialR2T", "Yes"}, {"ImmediateData", "No"}}));
    ASSERT_TRUE(result);
    EXPECT_EQ(result->answer("InitialR2T"), "Yes");
    EXPECT_EQ(result->answer("ImmediateData"), "No");
    // RFC 7143 §13.14: "Irrelevant when: (InitialR2T=Yes and ImmediateData=No)".
    EXPECT_EQ(result->answer("FirstBurstLength"), "Irrelevant");
}

TEST_F(Login, SecurityStageWithAuthMethodNoneThenOperationalStage) {
    auto client = connect();
    const TextPairs security{{"InitiatorName", client->initiator_name},
                             {"TargetName", kTargetIqn},
                             {"SessionType", "Normal"},
                             {"AuthMethod", "None"}};
    auto first =
        client->login_step(client->login_request(security, LoginStage::security, LoginStage::operational, true));
    ASSERT_TRUE(first);
    LoginResponseView rsp1{first->bhs};
    EXPECT_EQ(rsp1.status(), iscsi::LoginStatus::success);
    EXPECT_TRUE(rsp1.transit());
    EXPECT_EQ(rsp1.current_stage(), LoginStage::security);
    EXPECT_EQ(rsp1.next_stage(), LoginStage::operational);
    auto answers1 = iscsi::parse_text(ConstByteSpan(first->data.data(), first->data.size()));
    ASSERT_TRUE(answers1);
    EXPECT_EQ(find_value(*answers1, "AuthMethod"), "None");
    EXPECT_EQ(find_value(*answers1, "TargetPortalGroupTag"), "1");
    // §6.3: operational keys are not declared in the security stage.
    EXPECT_EQ(find_value(*answers1, "MaxRecvDataSegmentLength"), std::nullopt);

    const TextPairs operational{
        {"HeaderDigest", "None"}, {"DataDigest", "None"}, {"MaxRecvDataSegmentLength", "65536"}};
    auto second =
        client->login_step(client->login_request(operational, LoginStage::operational, LoginStage::full_feature, true));
    ASSERT_TRUE(second);
    auto result = client->finish_login(std::move(*second));
    LoginResponseView rsp2{result.response.bhs};
    EXPECT_EQ(result.status(), 0);
    EXPECT_TRUE(rsp2.transit());
    EXPECT_EQ(rsp2.current_stage(), LoginStage::operational);
    EXPECT_EQ(rsp2.next_stage(), LoginStage::full_feature);
    EXPECT_NE(rsp2.tsih(), 0);
    EXPECT_EQ(result.answer("HeaderDigest"), "None");
    EXPECT_EQ(result.answer("MaxRecvDataSegmentLength"), "262144");
    EXPECT_EQ(result.answer("TargetPortalGroupTag"), std::nullopt) << "declared once, in the security stage";
    auto tur = client->execute(test_unit_ready(), 0, false, false);
    EXPECT_TRUE(tur.completed) << tur.error;
}

TEST_F(Login, TextSplitOverTwoPdusWithTheContinueBit) {
    auto client = connect();
    const auto text = iscsi::build_text(libiscsi_keys(client->initiator_name));
    const std::size_t cut = 37;  // inside "TargetName=..."
    auto part1 = client->login_request({}, LoginStage::operational, LoginStage::full_feature, false, true);
    part1.data.assign(text.begin(), text.begin() + cut);
    auto rsp1 = client->login_step(part1);
    ASSERT_TRUE(rsp1);
    LoginResponseView view1{rsp1->bhs};
    // RFC 7143 §6.2 / §11.13: the target answers a C=1 request with an empty response, T=0.
    EXPECT_EQ(view1.status(), iscsi::LoginStatus::success);
    EXPECT_FALSE(view1.transit());
    EXPECT_FALSE(view1.continue_());
    EXPECT_EQ(view1.current_stage(), LoginStage::operational);
    EXPECT_TRUE(rsp1->data.empty());

    auto part2 = client->login_request({}, LoginStage::operational, LoginStage::full_feature, true);
    part2.data.assign(text.begin() + cut, text.end());
    auto rsp2 = client->login_step(part2);
    ASSERT_TRUE(rsp2);
    auto result = client->finish_login(std::move(*rsp2));
    EXPECT_EQ(result.status(), 0);
    EXPECT_TRUE(LoginResponseView{result.response.bhs}.transit());
    EXPECT_EQ(LoginResponseView{result.response.bhs}.next_stage(), LoginStage::full_feature);
    EXPECT_EQ(result.answer("MaxBurstLength"), "262144");
    EXPECT_NE(client->tsih, 0);
}

// ---- failures: RFC 7143 §11.13.5 Status-Class and Status-Detail ----

TEST_F(Login, UnknownTargetFailsWith0203) {
    auto client = connect();
    expect_login_failure(
        *client, first_request(*client, libiscsi_keys(client->initiator_name, "iqn.2026-11.org.example:nope")), 0x0203);
}

TEST_F(Login, MissingInitiatorNameFailsWith0207) {
    auto client = connect();
    expect_login_failure(
        *client, first_request(*client, without(libiscsi_keys(client->initiator_name), "InitiatorName")), 0x0207);
}

TEST_F(Login, NormalSessionWithoutTargetNameFailsWith0207) {
    auto client = connect();
    expect_login_failure(*client, first_request(*client, without(libiscsi_keys(client->initiator_name), "TargetName")),
                         0x0207);
}

TEST_F(Login, VersionMinAboveZeroFailsWith0205) {
    auto client = connect();
    auto request = first_request(*client, libiscsi_keys(client->initiator_name));
    iscsi::LoginRequestView req{request.bhs};
    req.set_version_max(2);
    req.set_version_min(1);
    expect_login_failure(*client, request, 0x0205);
}

TEST_F(Login, AuthMethodChapOnlyFailsWith0201) {
    auto client = connect();
    const TextPairs keys{{"InitiatorName", client->initiator_name},
                         {"TargetName", kTargetIqn},
                         {"SessionType", "Normal"},
                         {"AuthMethod", "CHAP"}};
    expect_login_failure(*client, client->login_request(keys, LoginStage::security, LoginStage::operational, true),
                         0x0201);
}

TEST_F(Login, TsihOfAnUnknownSessionFailsWith020a) {
    auto client = connect();
    client->tsih = 0x7777;
    expect_login_failure(*client, first_request(*client, libiscsi_keys(client->initiator_name)), 0x020a);
}

TEST_F(Login, UnsupportedSessionTypeFailsWith0209) {
    auto client = connect();
    expect_login_failure(
        *client, first_request(*client, with(libiscsi_keys(client->initiator_name), {{"SessionType", "Bogus"}})),
        0x0209);
}

TEST_F(Login, ScsiCommandBeforeLoginClosesTheConnection) {
    auto client = connect();
    // RFC 7143 §6.1: only Login Requests until the full feature phase.
    ASSERT_TRUE(client->send(client->scsi_command(test_unit_ready(), 0, false, false)));
    EXPECT_TRUE(client->expect_closed(2000ms));
    EXPECT_TRUE(client->before_close.empty()) << "nothing is answered";
    expect_fresh_login_works();
}

TEST_F(Login, LoginTextBeyond8192BytesClosesTheConnection) {
    auto client = connect();
    // §11.12 / §13.12: during login the target receives at most 8192 bytes per PDU.
    auto request = first_request(*client, libiscsi_keys(client->initiator_name));
    request.data.resize(8196, std::byte{0});
    ASSERT_TRUE(client->send(request));
    EXPECT_TRUE(client->expect_closed(2000ms));
    expect_fresh_login_works();
}

TEST_F(Login, SecondLoginWithTheSameInitiatorAndIsidReinstatesTheSession) {
    auto first = logged_in();
    ASSERT_NE(first, nullptr);
    const std::uint16_t old_tsih = first->tsih;
    auto second = connect();
    second->isid = first->isid;
    auto result = second->login(libiscsi_keys(second->initiator_name));
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status(), 0);
    EXPECT_NE(second->tsih, 0);
    EXPECT_NE(second->tsih, old_tsih);
    // RFC 7143 §6.3.5: session reinstatement closes the old session's connection.
    EXPECT_TRUE(first->expect_closed(2000ms));
    auto tur = second->execute(test_unit_ready(), 0, false, false);
    EXPECT_TRUE(tur.completed) << tur.error;
}

class LoginTimeout : public TargetTest {};

TEST_F(LoginTimeout, LoginThatNeverFinishesIsDroppedAfterLoginTimeout) {
    start([](DaemonConfig& c) { c.login_timeout_seconds = 1; });
    auto silent = connect();
    auto stalled = connect();
    // A login that stays in its stage (T=0) and never goes on.
    auto rsp = stalled->login_step(stalled->login_request(libiscsi_keys(stalled->initiator_name),
                                                          LoginStage::operational, LoginStage::full_feature, false));
    ASSERT_TRUE(rsp);
    EXPECT_EQ(iscsi::LoginResponseView{rsp->bhs}.status(), iscsi::LoginStatus::success);
    const auto t0 = Clock::now();
    EXPECT_TRUE(silent->expect_closed(3000ms));
    EXPECT_TRUE(stalled->expect_closed(3000ms));
    EXPECT_LT(Clock::now() - t0, 2500ms);
    expect_fresh_login_works();
}

}  // namespace
}  // namespace iscsikit::target::testing
