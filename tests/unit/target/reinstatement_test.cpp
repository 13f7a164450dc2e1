// A second connection offered to a live session, and session reinstatement while the old session
// has commands in flight (RFC 7143 §6.3.5, §11.13.5), in raw PDUs over the in-process seam.
#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

class Reinstatement : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        start();
    }
};

TEST_F(Reinstatement, SecondConnectionToALiveSessionIsRefusedWith0206AndTheSessionKeepsWorking) {
    auto first = logged_in();
    ASSERT_NE(first, nullptr);
    auto second = connect();
    second->isid = first->isid;
    second->tsih = first->tsih;  // a connection for the existing session: we offer MaxConnections=1
    auto rsp = second->login_step(second->login_request(libiscsi_keys(second->initiator_name), LoginStage::operational,
                                                        LoginStage::full_feature, true));
    ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
    ASSERT_EQ(rsp->bhs.opcode(), Opcode::login_response) << describe(*rsp);
    // §11.13.5: Status-Class 2, Status-Detail 06 "too many connections on this SSID"
    EXPECT_EQ(rsp->bhs.u8(36), 0x02);
    EXPECT_EQ(rsp->bhs.u8(37), 0x06);
    EXPECT_EQ(iscsi::LoginResponseView{rsp->bhs}.tsih(), first->tsih) << "the refusal names the session";
    EXPECT_TRUE(second->expect_closed(2000ms));
    // The existing session is untouched: still open, still serving.
    const auto data = pattern(4096, 3);
    auto w = first->execute(write10(8, 8), 4096, false, true, data);
    ASSERT_TRUE(w.completed) << w.error;
    EXPECT_EQ(w.status, 0);
    auto r = first->execute(read10(8, 8), 4096, true, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_TRUE(r.data == data);
}

TEST_F(Reinstatement, NewLoginWithTheSameIsidClosesTheOldConnectionAndItsCommandsNeverComplete) {
    // The old session waits for solicited data, so a write can be left half sent.
    const TextPairs solicited{{"InitialR2T", "Yes"}, {"ImmediateData", "No"}};
    auto old = logged_in(solicited);
    ASSERT_NE(old, nullptr);
    old->next_itt = 0x9000;  // the old session's tags, told apart from the new session's
    const auto before = pattern(8 * kBlock, 5);
    auto w = old->execute(write10(0, 8), 8 * kBlock, false, true, before);
    ASSERT_TRUE(w.completed) << w.error;
    ASSERT_EQ(w.status, 0);

    // In flight: a write whose R2T is answered with half its data ...
    auto pending_write = old->scsi_command(write10(0, 8), 8 * kBlock, false, true);
    const std::uint32_t write_itt = pending_write.bhs.initiator_task_tag();
    ASSERT_TRUE(old->send(pending_write));
    auto r2t = old->recv();
    ASSERT_TRUE(r2t) << recv_error_name(r2t.error());
    ASSERT_EQ(r2t->bhs.opcode(), Opcode::r2t) << describe(*r2t);
    iscsi::R2tView view{r2t->bhs};
    ASSERT_TRUE(old->send(old->data_out(write_itt, view.target_transfer_tag(), 0, 0, pattern(4 * kBlock, 99), false)));
    // ... and a read held back by a CmdSN gap (the command before it never sent).
    ++old->cmd_sn;
    auto held = old->scsi_command(read10(0, 8), 8 * kBlock, true, false);
    const std::uint32_t held_itt = held.bhs.initiator_task_tag();
    ASSERT_TRUE(old->send(held));
    ASSERT_TRUE(old->expect_silence(200ms)) << "the held read must wait for the missing CmdSN";

    // Reinstatement: same initiator name and ISID, TSIH 0.
    auto fresh = connect();
    fresh->isid = old->isid;
    auto login = fresh->login(with(libiscsi_keys(fresh->initiator_name), solicited));
    ASSERT_TRUE(login) << recv_error_name(login.error());
    ASSERT_EQ(login->status(), 0);
    EXPECT_NE(fresh->tsih, old->tsih);
    EXPECT_TRUE(old->expect_closed(2000ms)) << "§6.3.5: reinstatement closes the old session's connection";
    for (const auto& pdu : old->before_close)
        EXPECT_FALSE(pdu.bhs.opcode() == Opcode::scsi_response || pdu.bhs.opcode() == Opcode::data_in)
            << "the old session answered after its reinstatement: " << describe(pdu);

    // The new session works, sees the unit attention of the reinstatement or none, and the
    // half-written data never landed.
    auto tur = fresh->execute(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(tur.completed) << tur.error;
    auto back = fresh->execute(read10(0, 8), 8 * kBlock, true, false);
    if (back.completed && back.status == 2) back = fresh->execute(read10(0, 8), 8 * kBlock, true, false);
    ASSERT_TRUE(back.completed) << back.error;
    EXPECT_EQ(back.status, 0);
    EXPECT_TRUE(back.data == before) << "a write the old session never finished sending was applied";
    // Nothing of the old session's tasks ever shows up on the new one.
    auto stray = fresh->recv(300ms);
    if (stray) {
        EXPECT_NE(stray->bhs.initiator_task_tag(), write_itt) << describe(*stray);
        EXPECT_NE(stray->bhs.initiator_task_tag(), held_itt) << describe(*stray);
    }
    expect_fresh_login_works();
}

}  // namespace
}  // namespace iscsikit::target::testing
