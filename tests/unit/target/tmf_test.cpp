// Task management functions at ErrorRecoveryLevel 0 (RFC 7143 §11.5, §11.6; SAM-5 §7).
#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

using iscsi::TaskFunction;

class TaskManagement : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        start();
    }

    // Sends a TMF request and returns its response code (0xffff when none came).
    unsigned tmf(RawClient& c, const Pdu& request) {
        EXPECT_TRUE(c.send(request));
        auto rsp = c.recv();
        if (!rsp) {
            ADD_FAILURE() << "no TMF response: " << recv_error_name(rsp.error());
            return 0xffff;
        }
        if (rsp->bhs.opcode() != Opcode::task_management_response ||
            rsp->bhs.initiator_task_tag() != request.bhs.initiator_task_tag()) {
            ADD_FAILURE() << "expected the TMF response, got " << describe(*rsp);
            return 0xffff;
        }
        EXPECT_TRUE(rsp->bhs.final());
        last_response_ = std::move(*rsp);
        return iscsi::TaskManagementResponseView{last_response_.bhs}.response();
    }

    Pdu last_response_;
};

// RFC 7143 §11.6.1 c): "If the Referenced Task Tag does not identify an existing task and the
// CmdSN indicated by the RefCmdSN field ... is outside the valid CmdSN window, then targets must
// return the 'Task does not exist' response." The window is [ExpCmdSN, MaxCmdSN] (§4.2.2.1).
TEST_F(TaskManagement, AbortTaskOfAnUnknownTaskBelowExpCmdSnAnswersTaskDoesNotExist) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    EXPECT_EQ(tmf(*client, client->task_management(TaskFunction::abort_task, 0x77777, client->exp_cmd_sn - 1)), 1u);
    EXPECT_EQ(tmf(*client, client->task_management(TaskFunction::abort_task, 0x77777, client->max_cmd_sn + 1)), 1u);
}

TEST_F(TaskManagement, AbortTaskOfACompletedCommandAnswersTaskDoesNotExist) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    // libiscsi's iSCSITMF.AbortTaskSimpleAsync: WRITE(10) of 8 x 512 bytes as immediate data and
    // an ABORT TASK right behind it (notes/iscsi-tests.md §4).
    auto write = client->scsi_command(write10(0, 8), 4096, false, true, pattern(4096, 1));
    const std::uint32_t itt = write.bhs.initiator_task_tag();
    const std::uint32_t cmd_sn = iscsi::ScsiCommandView{write.bhs}.cmd_sn();
    auto abort = client->task_management(TaskFunction::abort_task, itt, cmd_sn);
    auto bytes = client->encode(write);
    auto more = client->encode(abort);
    bytes.insert(bytes.end(), more.begin(), more.end());
    ASSERT_TRUE(client->send_bytes(bytes));
    std::optional<unsigned> tmf_response;
    std::optional<std::uint8_t> write_status;
    while (!tmf_response) {
        auto pdu = client->recv();
        ASSERT_TRUE(pdu) << recv_error_name(pdu.error());
        if (pdu->bhs.opcode() == Opcode::task_management_response)
            tmf_response = iscsi::TaskManagementResponseView{pdu->bhs}.response();
        else if (pdu->bhs.opcode() == Opcode::scsi_response && pdu->bhs.initiator_task_tag() == itt)
            write_status = iscsi::ScsiResponseView{pdu->bhs}.status();
        else
            FAIL() << "unexpected " << describe(*pdu);
    }
    if (!write_status) {
        auto late = client->recv(500ms);
        if (late && late->bhs.opcode() == Opcode::scsi_response)
            write_status = iscsi::ScsiResponseView{late->bhs}.status();
    }
    // Either the write finished first (GOOD, then "Task does not exist": its RefCmdSN is now below
    // ExpCmdSN), or it was aborted (0) and never answers.
    if (write_status) {
        EXPECT_EQ(*write_status, 0);
        EXPECT_EQ(*tmf_response, 1u) << "a completed task cannot be aborted";
    } else {
        EXPECT_EQ(*tmf_response, 0u);
    }
}

TEST_F(TaskManagement, AbortTaskOfAWriteWaitingForDataCompletesAndTheWriteNeverAnswers) {
    auto client = logged_in({{"InitialR2T", "Yes"}, {"ImmediateData", "No"}});
    ASSERT_NE(client, nullptr);
    auto before = client->execute(read10(40, 8), 4096, true, false).data;
    auto write = client->scsi_command(write10(40, 8), 4096, false, true);
    const std::uint32_t itt = write.bhs.initiator_task_tag();
    ASSERT_TRUE(client->send(write));
    auto r2t = client->recv();
    ASSERT_TRUE(r2t);
    ASSERT_EQ(r2t->bhs.opcode(), Opcode::r2t);
    // §11.6.1 a): a task that exists is aborted: "Function complete".
    EXPECT_EQ(tmf(*client,
                  client->task_management(TaskFunction::abort_task, itt, iscsi::ScsiCommandView{write.bhs}.cmd_sn())),
              0u);
    // The Data-Out still in flight is discarded and the aborted task sends no response.
    ASSERT_TRUE(client->send(
        client->data_out(itt, iscsi::R2tView{r2t->bhs}.target_transfer_tag(), 0, 0, pattern(4096, 8), true)));
    EXPECT_TRUE(client->expect_silence(300ms));
    auto after = client->execute(read10(40, 8), 4096, true, false);
    EXPECT_EQ(after.status, 0);
    EXPECT_EQ(after.data, before) << "nothing written";
}

// §11.6.1 b): RefCmdSN in the window and below the TMF's CmdSN: the command counts as received.
TEST_F(TaskManagement, AbortTaskOfACommandHeldBehindACmdSnGapCompletesAndTheCommandNeverRuns) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const std::uint32_t exp = client->exp_cmd_sn;
    auto held = client->scsi_command(test_unit_ready(), 0, false, false);
    iscsi::ScsiCommandView{held.bhs}.set_cmd_sn(exp + 1);
    ASSERT_TRUE(client->send(held));
    EXPECT_TRUE(client->expect_silence(200ms));
    client->cmd_sn = exp + 2;  // the initiator has issued exp and exp + 1
    EXPECT_EQ(tmf(*client, client->task_management(TaskFunction::abort_task, held.bhs.initiator_task_tag(), exp + 1)),
              0u);
    // The gap fills: that command runs, the aborted one does not.
    auto gap = client->scsi_command(test_unit_ready(), 0, false, false);
    iscsi::ScsiCommandView{gap.bhs}.set_cmd_sn(exp);
    client->cmd_sn = exp + 2;
    ASSERT_TRUE(client->send(gap));
    auto r = client->collect(gap.bhs.initiator_task_tag());
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(client->expect_silence(300ms)) << "the aborted command must never answer";
    auto next = client->execute(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(next.completed) << next.error;
    EXPECT_EQ(iscsi::ScsiResponseView{next.final_pdu.bhs}.exp_cmd_sn(), exp + 3);
}

TEST_F(TaskManagement, AbortTaskOfACommandNotYetReceivedCompletesAndConsumesItsCmdSn) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const std::uint32_t exp = client->exp_cmd_sn;
    auto lost = client->scsi_command(test_unit_ready(), 0, false, false);  // takes CmdSN exp, not sent yet
    EXPECT_EQ(tmf(*client, client->task_management(TaskFunction::abort_task, lost.bhs.initiator_task_tag(), exp)), 0u);
    EXPECT_EQ(iscsi::TaskManagementResponseView{last_response_.bhs}.exp_cmd_sn(), exp + 1)
        << "the target considers CmdSN " << exp << " received";
    ASSERT_TRUE(client->send(lost));
    EXPECT_TRUE(client->expect_silence(300ms)) << "it arrives late: a duplicate, ignored";
    auto next = client->execute(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(next.completed) << next.error;
    EXPECT_EQ(next.status, 0);
}

// RFC 7143 §11.5.1: a task-set function acts on every command the initiator sent before it. With
// an immediate TMF that includes a command held ahead of a CmdSN gap and the command still in the
// gap: neither may run, whenever it arrives; both keep their CmdSN. A command on a LUN outside the
// function's scope is not touched.
class TaskSetScope : public TaskManagement, public ::testing::WithParamInterface<TaskFunction> {};

TEST_P(TaskSetScope, CommandsHeldBehindAGapAndInTheGapNeverRun) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    for (std::uint16_t lun : {0, 1}) client->execute(test_unit_ready(), 0, false, false, {}, lun);  // power-on UAs
    const auto before = client->execute(read10(40, 16), 16 * kBlock, true, false).data;
    ASSERT_EQ(before.size(), 16 * kBlock);
    const std::uint32_t exp = client->exp_cmd_sn;
    auto in_gap = client->scsi_command(write10(48, 1), kBlock, false, true, pattern(kBlock, 1));  // CmdSN exp
    auto held = client->scsi_command(write10(40, 1), kBlock, false, true, pattern(kBlock, 2));    // exp + 1
    auto other_lun = client->scsi_command(write10(40, 1), kBlock, false, true, pattern(kBlock, 3), true, 1);  // exp + 2
    ASSERT_TRUE(client->send(held));
    ASSERT_TRUE(client->send(other_lun));
    EXPECT_TRUE(client->expect_silence(200ms)) << "both wait for CmdSN " << exp;
    const bool whole_target = GetParam() == TaskFunction::target_warm_reset;
    EXPECT_EQ(tmf(*client, client->task_management(GetParam(), kReservedTag, 0)), 0u);
    ASSERT_TRUE(client->send(in_gap));
    if (whole_target) {
        EXPECT_TRUE(client->expect_silence(300ms)) << "a target reset aborts all three";
    } else {
        // The gap filled: LUN 1's command runs, LUN 0's two do not.
        auto r = client->collect(other_lun.bhs.initiator_task_tag());
        ASSERT_TRUE(r.completed) << r.error;
        EXPECT_EQ(r.status, 0);
        EXPECT_TRUE(client->expect_silence(300ms)) << "the aborted commands must never answer";
    }
    // The window moved past all three, and LUN 0 holds what it held.
    auto tur = client->execute(test_unit_ready(), 0, false, false);  // a reset's unit attention, if any
    ASSERT_TRUE(tur.completed) << tur.error;
    EXPECT_EQ(iscsi::ScsiResponseView{tur.final_pdu.bhs}.exp_cmd_sn(), exp + 4);
    auto after = client->execute(read10(40, 16), 16 * kBlock, true, false);
    ASSERT_TRUE(after.completed) << after.error;
    EXPECT_EQ(after.status, 0);
    EXPECT_EQ(after.data, before) << "an aborted write reached the LU";
    auto lun1 = client->execute(read10(40, 1), kBlock, true, false, {}, 1);
    if (lun1.status == 0x02) lun1 = client->execute(read10(40, 1), kBlock, true, false, {}, 1);  // reset's UA
    EXPECT_EQ(lun1.data == pattern(kBlock, 3), !whole_target) << "LUN 1's write ran only outside a target reset";
}

INSTANTIATE_TEST_SUITE_P(Functions, TaskSetScope,
                         ::testing::Values(TaskFunction::abort_task_set, TaskFunction::clear_task_set,
                                           TaskFunction::logical_unit_reset, TaskFunction::target_warm_reset),
                         task_set_function_name);

TEST_F(TaskManagement, LogicalUnitResetGivesEveryNexusBusDeviceResetAttention) {
    auto client = logged_in({{"InitialR2T", "Yes"}, {"ImmediateData", "No"}});
    ASSERT_NE(client, nullptr);
    auto other = logged_in();  // another I_T nexus (its own ISID) on the same LU
    ASSERT_NE(other, nullptr);
    client->execute(test_unit_ready(), 0, false, false, {}, 1);  // LUN 1's power-on UA
    auto write = client->scsi_command(write10(0, 8), 4096, false, true);
    ASSERT_TRUE(client->send(write));
    auto r2t = client->recv();
    ASSERT_TRUE(r2t);
    ASSERT_EQ(r2t->bhs.opcode(), Opcode::r2t);
    EXPECT_EQ(tmf(*client, client->task_management(TaskFunction::logical_unit_reset, kReservedTag, 0)), 0u);
    EXPECT_TRUE(client->expect_silence(300ms)) << "the write waiting for data was aborted by the reset";
    // SAM-5 §6.3.3: every nexus, the issuer's included, gets UNIT ATTENTION, BUS DEVICE RESET
    // FUNCTION OCCURRED.
    for (auto* c : {client.get(), other.get()}) {
        auto tur = c->execute(test_unit_ready(), 0, false, false);
        ASSERT_TRUE(tur.completed) << tur.error;
        EXPECT_EQ(tur.status, 0x02);
        EXPECT_EQ(tur.sense_key(), 0x06);
        EXPECT_EQ(tur.asc(), 0x29);
        EXPECT_EQ(tur.ascq(), 0x03);
        EXPECT_EQ(c->execute(test_unit_ready(), 0, false, false).status, 0);
    }
    EXPECT_EQ(client->execute(test_unit_ready(), 0, false, false, {}, 1).status, 0) << "LUN 1 was not reset";
}

// PERSISTENT RESERVE OUT (SPC-4 §6.16): a service action with its 24-byte parameter list.
Cdb prout(std::uint8_t action, std::uint8_t type) { return Cdb{0x5f, action, type, 0, 0, 0, 0, 0, 24, 0}; }
std::vector<std::byte> prout_keys(std::uint64_t key, std::uint64_t service_action_key) {
    std::vector<std::byte> p(24);
    for (int i = 0; i < 8; ++i) {
        p[static_cast<std::size_t>(i)] = std::byte(key >> (56 - 8 * i));
        p[8 + static_cast<std::size_t>(i)] = std::byte(service_action_key >> (56 - 8 * i));
    }
    return p;
}

// SPC-4 §5.13.11.4.5: PREEMPT AND ABORT from another I_T nexus aborts this nexus's tasks on the LU
// (SAM-5 §5.6; TAS 0: they end without status), whatever reactor its session is on, and its own
// status comes after.
TEST_F(TaskManagement, PreemptAndAbortFromAnotherNexusAbortsItsWriteWaitingForData) {
    auto victim = logged_in({{"InitialR2T", "Yes"}});
    ASSERT_NE(victim, nullptr);
    auto other = logged_in();
    ASSERT_NE(other, nullptr);
    constexpr std::uint8_t kRegisterAndIgnore = 6, kReserve = 1, kPreemptAndAbort = 5, kWriteExclusive = 1;
    EXPECT_EQ(victim->execute(prout(kRegisterAndIgnore, 0), 24, false, true, prout_keys(0, 0xaa)).status, 0);
    EXPECT_EQ(other->execute(prout(kRegisterAndIgnore, 0), 24, false, true, prout_keys(0, 0xbb)).status, 0);
    EXPECT_EQ(victim->execute(prout(kReserve, kWriteExclusive), 24, false, true, prout_keys(0xaa, 0)).status, 0);
    auto before = victim->execute(read10(40, 8), 4096, true, false).data;
    auto write = victim->scsi_command(write10(40, 8), 4096, false, true);
    const std::uint32_t itt = write.bhs.initiator_task_tag();
    ASSERT_TRUE(victim->send(write));
    auto r2t = victim->recv();
    ASSERT_TRUE(r2t);
    ASSERT_EQ(r2t->bhs.opcode(), Opcode::r2t);

    auto preempt = other->execute(prout(kPreemptAndAbort, kWriteExclusive), 24, false, true, prout_keys(0xbb, 0xaa));
    ASSERT_TRUE(preempt.completed) << preempt.error;
    EXPECT_EQ(preempt.status, 0);
    // The write's data, sent now, is discarded, and the write never answers.
    ASSERT_TRUE(victim->send(
        victim->data_out(itt, iscsi::R2tView{r2t->bhs}.target_transfer_tag(), 0, 0, pattern(4096, 8), true)));
    EXPECT_TRUE(victim->expect_silence(300ms));
    // SPC-4 §5.13.11.4: REGISTRATIONS PREEMPTED, then the new holder's Write Exclusive applies.
    auto tur = victim->execute(test_unit_ready(), 0, false, false);
    EXPECT_EQ(tur.sense_key(), 0x06);
    EXPECT_EQ(tur.asc(), 0x2a);
    EXPECT_EQ(tur.ascq(), 0x05);
    EXPECT_EQ(victim->execute(write10(40, 8), 4096, false, true, pattern(4096, 9)).status, 0x18);
    EXPECT_EQ(victim->execute(read10(40, 8), 4096, true, false).data, before) << "nothing written";
}

TEST_F(TaskManagement, TargetWarmResetCompletesAndEveryLunSeesTargetResetAttention) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    EXPECT_EQ(tmf(*client, client->task_management(TaskFunction::target_warm_reset, kReservedTag, 0)), 0u);
    auto tur = client->execute(test_unit_ready(), 0, false, false);
    EXPECT_EQ(tur.status, 0x02);
    EXPECT_EQ(tur.sense_key(), 0x06);
    EXPECT_EQ(tur.asc(), 0x29);
    EXPECT_EQ(tur.ascq(), 0x02);
    EXPECT_EQ(client->execute(test_unit_ready(), 0, false, false).status, 0);
}

TEST_F(TaskManagement, FunctionsOnALunThatDoesNotExistAnswerLunDoesNotExist) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    EXPECT_EQ(tmf(*client, client->task_management(TaskFunction::logical_unit_reset, kReservedTag, 0, 5)), 2u);
    EXPECT_EQ(tmf(*client, client->task_management(TaskFunction::abort_task_set, kReservedTag, 0, 5)), 2u);
    EXPECT_EQ(tmf(*client, client->task_management(TaskFunction::clear_task_set, kReservedTag, 0, 5)), 2u);
}

TEST_F(TaskManagement, TaskReassignAtErrorRecoveryLevelZeroIsNotSupported) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    // §11.6.1 / §6.2.2: allegiance reassignment needs ErrorRecoveryLevel 2; answer 4.
    EXPECT_EQ(tmf(*client, client->task_management(TaskFunction::task_reassign, 0x1234, client->exp_cmd_sn - 1)), 4u);
    EXPECT_EQ(client->execute(test_unit_ready(), 0, false, false).status, 0);
}

}  // namespace
}  // namespace iscsikit::target::testing
