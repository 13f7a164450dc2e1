// Solicited data with several R2Ts outstanding (RFC 7143 §11.8, §13.17 MaxOutstandingR2T), spoken
// in raw PDUs over the in-process seam.
#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

class R2t : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        start([](DaemonConfig& c) { c.max_outstanding_r2t = 8; });  // the initiator's offer decides
    }
};

constexpr std::uint32_t kBurst = 65536;
constexpr std::uint32_t kOutstanding = 4;
constexpr std::uint32_t kDataOutSize = 8192;  // within any MaxRecvDataSegmentLength the target declares

TEST_F(R2t, MaxOutstandingR2T4SendsFourR2TsAtOnceAndTakesTheirDataInAnyOrder) {
    // Every byte solicited (InitialR2T=Yes, no immediate data) in 64 KiB bursts, four at a time;
    // DataSequenceInOrder=No lets the bursts arrive in any order (§13.20).
    auto client = logged_in({{"MaxOutstandingR2T", std::to_string(kOutstanding)},
                             {"InitialR2T", "Yes"},
                             {"ImmediateData", "No"},
                             {"MaxBurstLength", std::to_string(kBurst)},
                             {"FirstBurstLength", std::to_string(kBurst)},
                             {"DataSequenceInOrder", "No"}});
    ASSERT_NE(client, nullptr);

    constexpr std::uint32_t kBytes = 8 * kBurst;  // 512 KiB: eight bursts, two rounds of four
    const auto data = pattern(kBytes, 41);
    auto cmd = client->scsi_command(write10(64, kBytes / kBlock), kBytes, false, true);
    const std::uint32_t itt = cmd.bhs.initiator_task_tag();
    ASSERT_TRUE(client->send(cmd));

    std::uint32_t expected_r2t_sn = 0, answered = 0;
    std::vector<std::uint32_t> offsets_seen;
    while (answered < kBytes / kBurst) {
        // A round: the target asks for up to four bursts before seeing any of their data.
        std::vector<Pdu> round;
        const std::uint32_t want = std::min(kOutstanding, kBytes / kBurst - answered);
        for (std::uint32_t i = 0; i < want; ++i) {
            auto pdu = client->recv();
            ASSERT_TRUE(pdu) << "R2T " << i << " of the round: " << recv_error_name(pdu.error());
            ASSERT_EQ(pdu->bhs.opcode(), Opcode::r2t) << describe(*pdu);
            ASSERT_EQ(pdu->bhs.initiator_task_tag(), itt);
            iscsi::R2tView r2t{pdu->bhs};
            EXPECT_EQ(r2t.r2t_sn(), expected_r2t_sn++) << "R2TSN counts the task's R2Ts (§11.8.4)";
            EXPECT_EQ(r2t.desired_data_transfer_length(), kBurst) << "each R2T asks for MaxBurstLength";
            offsets_seen.push_back(r2t.buffer_offset());
            round.push_back(std::move(*pdu));
        }
        // No more than MaxOutstandingR2T: nothing else until data arrives.
        ASSERT_TRUE(client->expect_silence(200ms)) << "more than " << kOutstanding << " R2Ts outstanding";
        // Answer the round backwards: the last R2T's data first.
        for (auto it = round.rbegin(); it != round.rend(); ++it) {
            iscsi::R2tView r2t{it->bhs};
            const std::uint32_t offset = r2t.buffer_offset();
            for (std::uint32_t at = 0, data_sn = 0; at < kBurst; at += kDataOutSize, ++data_sn) {
                std::vector<std::byte> piece(data.begin() + offset + at, data.begin() + offset + at + kDataOutSize);
                ASSERT_TRUE(client->send(client->data_out(itt, r2t.target_transfer_tag(), data_sn, offset + at,
                                                          std::move(piece), at + kDataOutSize == kBurst)));
            }
            ++answered;
        }
    }
    std::sort(offsets_seen.begin(), offsets_seen.end());
    for (std::uint32_t i = 0; i < offsets_seen.size(); ++i)
        EXPECT_EQ(offsets_seen[i], i * kBurst) << "the R2Ts cover the transfer once, without gaps";

    auto status = client->collect(itt);
    ASSERT_TRUE(status.completed) << status.error;
    EXPECT_EQ(status.status, 0) << "sense key " << int(status.sense_key());

    auto back = client->execute(read10(64, kBytes / kBlock), kBytes, true, false);
    ASSERT_TRUE(back.completed) << back.error;
    EXPECT_EQ(back.status, 0);
    ASSERT_EQ(back.data.size(), kBytes);
    EXPECT_TRUE(back.data == data) << "the data answered out of R2T order did not land where each R2T asked";
}

TEST_F(R2t, MaxOutstandingR2T1SendsOneR2TAtATime) {
    // The contrast that keeps the test above honest: with the default of 1, a second R2T waits.
    auto client = logged_in({{"InitialR2T", "Yes"},
                             {"ImmediateData", "No"},
                             {"MaxBurstLength", std::to_string(kBurst)},
                             {"FirstBurstLength", std::to_string(kBurst)}});
    ASSERT_NE(client, nullptr);
    auto cmd = client->scsi_command(write10(0, 2 * kBurst / kBlock), 2 * kBurst, false, true);
    ASSERT_TRUE(client->send(cmd));
    auto first = client->recv();
    ASSERT_TRUE(first);
    ASSERT_EQ(first->bhs.opcode(), Opcode::r2t) << describe(*first);
    EXPECT_TRUE(client->expect_silence(200ms)) << "a second R2T while the first is unanswered";
}

}  // namespace
}  // namespace iscsikit::target::testing
