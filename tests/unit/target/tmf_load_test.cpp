// Task management while the LU is busy: 64 READs and WRITEs on a file LUN in flight through the
// reactor's io_uring engine, then ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET,
// TARGET WARM RESET, or a dropped connection (RFC 7143 §11.5, §11.6; SAM-5 §7). CI runs this
// binary under ASan and TSan too: an aborted task whose I/O completes later must touch nothing
// freed, and the reactors must not race over the session's tables.
//
// What must hold, whatever the timing:
// - the TMF response comes, and no command answers twice;
// - after the response of a task-set function no command of its scope answers (SAM-5 §7.1: the
//   response reports the tasks terminated); ABORT TASK ends only the task it names;
// - every WRITE that answered GOOD is on the LU afterwards (no lost data), and the session, or a
//   new one after a dropped connection, still serves.
#include <stdlib.h>
#include <unistd.h>

#include <map>

#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

using iscsi::TaskFunction;

constexpr int kCommands = 64;
constexpr std::uint16_t kBlocksPerCommand = 8;  // 4 KiB
constexpr std::uint64_t kFileLunBytes = 8u << 20;

struct Sent {
    bool write = false;
    std::uint32_t lba = 0;
    std::uint8_t seed = 0;
    std::uint32_t cmd_sn = 0;
    int answers = 0;
    bool answered_after_tmf = false;
    std::uint8_t status = 0xff;
};

class TmfUnderLoad : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        char dir_template[] = "/tmp/iscsikit-tmf-XXXXXX";
        const char* dir = ::mkdtemp(dir_template);
        ASSERT_NE(dir, nullptr);
        dir_ = dir;
        path_ = dir_ + "/lun.img";  // created by the target at the LUN's size
        start([this](DaemonConfig& config) {
            auto& luns = config.targets.front().luns;
            for (auto& lun : luns) {
                lun.kind = LunSpec::Kind::file;
                lun.size = kFileLunBytes;
            }
            luns[0].path = path_;
            luns[1].path = dir_ + "/lun1.img";
        });
    }
    void TearDown() override {
        TargetTest::TearDown();
        ::unlink(path_.c_str());
        ::unlink((dir_ + "/lun1.img").c_str());
        ::rmdir(dir_.c_str());
    }

    // 64 commands on LUN 0, alternating WRITE and READ over distinct 4 KiB slots, sent without
    // waiting for any answer (the writes carry their data as immediate data).
    std::map<std::uint32_t, Sent> send_load(RawClient& client) {
        std::map<std::uint32_t, Sent> sent;
        for (int i = 0; i < kCommands; ++i) {
            Sent s;
            s.write = i % 2 == 0;
            s.lba = static_cast<std::uint32_t>(i) * kBlocksPerCommand;
            s.seed = static_cast<std::uint8_t>(i + 1);
            s.cmd_sn = client.cmd_sn;
            const std::uint32_t bytes = kBlocksPerCommand * kBlock;
            auto pdu = s.write ? client.scsi_command(write10(s.lba, kBlocksPerCommand), bytes, false, true,
                                                     pattern(bytes, s.seed))
                               : client.scsi_command(read10(s.lba, kBlocksPerCommand), bytes, true, false);
            EXPECT_TRUE(client.send(pdu));
            sent.emplace(pdu.bhs.initiator_task_tag(), s);
        }
        return sent;
    }

    // Reads what the target says until it has been quiet for 500 ms, noting each command's final
    // status and whether it came after the TMF response. Returns the TMF's response code.
    unsigned drain(RawClient& client, std::map<std::uint32_t, Sent>& sent, std::uint32_t tmf_itt) {
        unsigned tmf_response = 0xffff;
        for (;;) {
            auto pdu = client.recv(500ms);
            if (!pdu) {
                EXPECT_EQ(pdu.error(), RecvError::timeout) << "the target closed or garbled the connection";
                break;
            }
            const auto opcode = pdu->bhs.opcode();
            const std::uint32_t itt = pdu->bhs.initiator_task_tag();
            if (opcode == Opcode::task_management_response) {
                EXPECT_EQ(itt, tmf_itt);
                EXPECT_EQ(tmf_response, 0xffffu) << "a second TMF response";
                tmf_response = iscsi::TaskManagementResponseView{pdu->bhs}.response();
                continue;
            }
            const bool final_status = opcode == Opcode::scsi_response ||
                                      (opcode == Opcode::data_in && iscsi::DataInView{pdu->bhs}.status_present());
            if (opcode != Opcode::data_in && !final_status) {
                ADD_FAILURE() << "unexpected " << describe(*pdu);
                continue;
            }
            auto it = sent.find(itt);
            if (it == sent.end()) {
                ADD_FAILURE() << "a PDU for an ITT never sent: " << describe(*pdu);
                continue;
            }
            if (!final_status) continue;
            Sent& s = it->second;
            ++s.answers;
            s.answered_after_tmf = tmf_response != 0xffff;
            s.status = opcode == Opcode::scsi_response ? iscsi::ScsiResponseView{pdu->bhs}.status()
                                                       : iscsi::DataInView{pdu->bhs}.status();
        }
        for (const auto& [itt, s] : sent) EXPECT_LE(s.answers, 1) << "ITT " << itt << " answered twice";
        return tmf_response;
    }

    // Every WRITE that answered GOOD left its data on the LU: read each back (a reset's unit
    // attention first, if one is pending).
    void expect_good_writes_on_the_lu(RawClient& client, const std::map<std::uint32_t, Sent>& sent) {
        auto tur = client.execute(test_unit_ready(), 0, false, false);
        ASSERT_TRUE(tur.completed) << tur.error;
        if (tur.status != 0) {
            ASSERT_EQ(client.execute(test_unit_ready(), 0, false, false).status, 0);
        }
        for (const auto& [itt, s] : sent) {
            if (!s.write || s.answers == 0 || s.status != 0) continue;
            auto r = client.execute(read10(s.lba, kBlocksPerCommand), kBlocksPerCommand * kBlock, true, false);
            ASSERT_TRUE(r.completed) << r.error;
            EXPECT_EQ(r.status, 0);
            EXPECT_EQ(r.data, pattern(kBlocksPerCommand * kBlock, s.seed))
                << "a GOOD write at LBA " << s.lba << " is lost";
        }
    }

    std::string dir_, path_;
};

TEST_F(TmfUnderLoad, AbortTaskEndsOnlyTheTaskItNames) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    auto sent = send_load(*client);
    // The last command sent: the likeliest to be still queued or running.
    const auto [victim_itt, victim] = *sent.rbegin();
    auto tmf = client->task_management(TaskFunction::abort_task, victim_itt, victim.cmd_sn);
    ASSERT_TRUE(client->send(tmf));
    const unsigned response = drain(*client, sent, tmf.bhs.initiator_task_tag());
    // 0: aborted; 1: it had completed already (§11.6.1), then it answered before the response.
    ASSERT_TRUE(response == 0 || response == 1) << "TMF response " << response;
    for (const auto& [itt, s] : sent) {
        if (itt == victim_itt) {
            if (response == 0) {
                EXPECT_FALSE(s.answered_after_tmf) << "the aborted task answered after the TMF response";
            } else {
                EXPECT_EQ(s.answers, 1) << "'task does not exist' for a task that never answered";
            }
            continue;
        }
        EXPECT_EQ(s.answers, 1) << "ITT " << itt << " was not named by ABORT TASK and must complete";
        EXPECT_EQ(s.status, 0) << "ITT " << itt;
    }
    expect_good_writes_on_the_lu(*client, sent);
}

class TaskSetUnderLoad : public TmfUnderLoad, public ::testing::WithParamInterface<TaskFunction> {};

TEST_P(TaskSetUnderLoad, NoCommandOfTheScopeAnswersAfterTheResponseAndGoodWritesStay) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    client->execute(test_unit_ready(), 0, false, false, {}, 1);  // LUN 1's power-on UA
    auto sent = send_load(*client);
    auto tmf = client->task_management(GetParam(), kReservedTag, 0);
    ASSERT_TRUE(client->send(tmf));
    EXPECT_EQ(drain(*client, sent, tmf.bhs.initiator_task_tag()), 0u) << "function complete";
    int answered = 0;
    for (const auto& [itt, s] : sent) {
        EXPECT_FALSE(s.answered_after_tmf) << "ITT " << itt << " (LBA " << s.lba << ") answered after the TMF response";
        answered += s.answers;
    }
    RecordProperty("commands_answered_before_the_tmf", answered);
    expect_good_writes_on_the_lu(*client, sent);
    // LUN 1 was outside the scope of the LUN functions and still serves.
    auto lun1 = client->execute(test_unit_ready(), 0, false, false, {}, 1);
    ASSERT_TRUE(lun1.completed) << lun1.error;
}

INSTANTIATE_TEST_SUITE_P(Functions, TaskSetUnderLoad,
                         ::testing::Values(TaskFunction::abort_task_set, TaskFunction::clear_task_set,
                                           TaskFunction::logical_unit_reset, TaskFunction::target_warm_reset),
                         task_set_function_name);

TEST_F(TmfUnderLoad, DroppedConnectionWithCommandsInFlightLeavesAServingTarget) {
    {
        auto client = logged_in();
        ASSERT_NE(client, nullptr);
        send_load(*client);
    }  // the connection goes with 64 commands in flight; their I/O completes into a closed session
    auto client = logged_in();
    ASSERT_NE(client, nullptr) << "no fresh login after the drop";
    auto sent = send_load(*client);
    drain(*client, sent, kReservedTag);
    for (const auto& [itt, s] : sent) {
        EXPECT_EQ(s.answers, 1) << "ITT " << itt;
        EXPECT_EQ(s.status, 0) << "ITT " << itt;
    }
    expect_good_writes_on_the_lu(*client, sent);
}

}  // namespace
}  // namespace iscsikit::target::testing
