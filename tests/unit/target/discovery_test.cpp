// Discovery sessions and SendTargets (RFC 7143 §4.3, §11.10, §11.11, §13.3, Appendix C).
#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

class Discovery : public TargetTest {
protected:
    // `extra` more targets with long names on the same portal, which has a fixed port so that
    // the answer's TargetAddress can be checked.
    void start_with_targets(int extra) {
        fixed_port_ = pick_free_port();
        ASSERT_NE(fixed_port_, 0);
        start([this, extra](DaemonConfig& c) {
            c.targets[0].portals = {PortalAddress{"127.0.0.1", fixed_port_}};
            for (int i = 0; i < extra; ++i) {
                TargetSpec t = c.targets[0];
                t.iqn = fmt::format("iqn.2026-11.org.iscsikit:{}-{:02}", std::string(180, 'x'), i);
                t.luns.resize(1);
                t.luns[0].size = 64 * 1024;
                c.targets.push_back(t);
            }
        });
    }

    std::unique_ptr<RawClient> discovery_login(std::uint32_t max_recv) {
        auto client = connect();
        const TextPairs keys{{"InitiatorName", client->initiator_name},
                             {"SessionType", "Discovery"},
                             {"HeaderDigest", "None"},
                             {"DataDigest", "None"},
                             {"MaxRecvDataSegmentLength", std::to_string(max_recv)}};
        auto result = client->login(keys);
        if (!result || result->status() != 0) {
            ADD_FAILURE() << "discovery login failed";
            return nullptr;
        }
        return client;
    }

    std::string address() const { return fmt::format("127.0.0.1:{},1", fixed_port_); }

    std::uint16_t fixed_port_ = 0;
};

TEST_F(Discovery, SendTargetsAllListsTargetNameAndTargetAddress) {
    start_with_targets(0);
    auto client = discovery_login(262144);
    ASSERT_NE(client, nullptr);
    const std::uint32_t itt = client->take_itt();
    ASSERT_TRUE(client->send(client->text_request(itt, to_bytes(std::string_view("SendTargets=All\0", 16)))));
    auto rsp = client->recv();
    ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
    EXPECT_EQ(rsp->bhs.opcode(), Opcode::text_response);
    EXPECT_EQ(rsp->bhs.u8(1), 0x80) << "F=1, C=0: libiscsi 1.19 accepts exactly 0x80";
    EXPECT_EQ(rsp->bhs.initiator_task_tag(), itt);
    EXPECT_EQ(iscsi::TextResponseView{rsp->bhs}.target_transfer_tag(), kReservedTag);
    auto pairs = iscsi::parse_text(ConstByteSpan(rsp->data.data(), rsp->data.size()));
    ASSERT_TRUE(pairs);
    const TextPairs expected{{"TargetName", kTargetIqn}, {"TargetAddress", address()}};
    EXPECT_EQ(*pairs, expected);
}

TEST_F(Discovery, LongAnswerContinuesWithTheCBitAndTargetTransferTag) {
    start_with_targets(6);
    auto client = discovery_login(512);
    ASSERT_NE(client, nullptr);
    const std::uint32_t itt = client->take_itt();
    ASSERT_TRUE(client->send(client->text_request(itt, to_bytes(std::string_view("SendTargets=All\0", 16)))));
    std::vector<std::byte> joined;
    int pdus = 0;
    for (;;) {
        auto rsp = client->recv();
        ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
        ASSERT_EQ(rsp->bhs.opcode(), Opcode::text_response);
        ASSERT_EQ(rsp->bhs.initiator_task_tag(), itt);
        ++pdus;
        // RFC 7143 §11.11: at most the initiator's MaxRecvDataSegmentLength per PDU.
        EXPECT_LE(rsp->data.size(), 512u);
        joined.insert(joined.end(), rsp->data.begin(), rsp->data.end());
        iscsi::TextResponseView view{rsp->bhs};
        if (rsp->bhs.final()) {
            // §11.11.1, §11.11.4: the last response has F=1, C=0 and TTT 0xffffffff.
            EXPECT_FALSE(view.continue_());
            EXPECT_EQ(view.target_transfer_tag(), kReservedTag);
            break;
        }
        // More follows: C=1 (never with F), a TTT the initiator echoes in an empty request.
        EXPECT_TRUE(view.continue_());
        EXPECT_EQ(rsp->data.size(), 512u);
        const std::uint32_t ttt = view.target_transfer_tag();
        EXPECT_NE(ttt, kReservedTag);
        ASSERT_LT(pdus, 20);
        ASSERT_TRUE(client->send(client->text_request(itt, {}, ttt)));
    }
    EXPECT_GE(pdus, 3);
    auto pairs = iscsi::parse_text(ConstByteSpan(joined.data(), joined.size()));
    ASSERT_TRUE(pairs);
    ASSERT_EQ(pairs->size(), 14u);
    EXPECT_EQ((*pairs)[0], (iscsi::TextPair{"TargetName", kTargetIqn}));
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ((*pairs)[2 + 2 * i].first, "TargetName");
        EXPECT_EQ((*pairs)[2 + 2 * i].second,
                  fmt::format("iqn.2026-11.org.iscsikit:{}-{:02}", std::string(180, 'x'), i));
    }
    for (int i = 0; i < 7; ++i) EXPECT_EQ((*pairs)[1 + 2 * i], (iscsi::TextPair{"TargetAddress", address()}));
}

TEST_F(Discovery, ScsiCommandInADiscoverySessionIsRejectedAsProtocolError) {
    start_with_targets(0);
    auto client = discovery_login(262144);
    ASSERT_NE(client, nullptr);
    auto cmd = client->scsi_command(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(client->send(cmd));
    auto rsp = client->recv();
    ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
    // RFC 7143 §4.3: a discovery session carries only Text and Logout; anything else is rejected.
    EXPECT_EQ(rsp->bhs.opcode(), Opcode::reject);
    EXPECT_TRUE(rsp->bhs.final());
    EXPECT_EQ(rsp->bhs.u8(2), 0x04);
    EXPECT_EQ(rsp->bhs.initiator_task_tag(), kReservedTag);
    ASSERT_EQ(rsp->data.size(), iscsi::kBhsLength);
    auto sent = client->encode(cmd);
    EXPECT_TRUE(std::equal(rsp->data.begin(), rsp->data.end(), sent.begin())) << "the data is the rejected BHS";
    // The session goes on: a logout is still answered.
    ASSERT_TRUE(client->send(client->logout()));
    auto logout = client->recv();
    ASSERT_TRUE(logout);
    EXPECT_EQ(logout->bhs.opcode(), Opcode::logout_response);
    EXPECT_EQ(logout->bhs.u8(2), 0);
    EXPECT_TRUE(client->expect_closed(2000ms));
}

}  // namespace
}  // namespace iscsikit::target::testing
