// The SCSI command path of a session: immediate, unsolicited and solicited data, Data-In, status and
// residuals (RFC 7143 §11.3 - §11.8), checked field by field on the wire.
#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

using iscsi::DataInView;
using iscsi::R2tView;

class ScsiTask : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        start();
    }

    std::vector<std::byte> read_back(RawClient& c, std::uint32_t lba, std::uint16_t blocks) {
        auto r = c.execute(read10(lba, blocks), blocks * kBlock, true, false);
        EXPECT_TRUE(r.completed) << r.error;
        EXPECT_EQ(r.status, 0);
        return r.data;
    }
};

TEST_F(ScsiTask, TestUnitReadyReportsPowerOnUnitAttentionOnceThenGood) {
    auto client = logged_in({}, false);
    ASSERT_NE(client, nullptr);
    auto first = client->execute(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(first.completed) << first.error;
    EXPECT_FALSE(first.status_in_data_in);
    EXPECT_EQ(first.response, 0);
    EXPECT_EQ(first.status, 0x02);
    // SAM-5 §5.14: UNIT ATTENTION, POWER ON, RESET, OR BUS DEVICE RESET OCCURRED.
    EXPECT_EQ(first.sense_key(), 0x06);
    EXPECT_EQ(first.asc(), 0x29);
    EXPECT_EQ(first.ascq(), 0x00);
    EXPECT_EQ(first.sense.size(), 18u);
    auto second = client->execute(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(second.completed) << second.error;
    EXPECT_EQ(second.status, 0x00);
    EXPECT_TRUE(second.final_pdu.data.empty());
    EXPECT_FALSE(second.overflow || second.underflow);
}

TEST_F(ScsiTask, WriteWithImmediateDataThenReadReturnsTheSameBytes) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const auto data = pattern(8 * kBlock, 3);
    auto w = client->execute(write10(10, 8), 8 * kBlock, false, true, data);
    ASSERT_TRUE(w.completed) << w.error;
    EXPECT_EQ(w.status, 0);
    EXPECT_FALSE(w.overflow || w.underflow);
    EXPECT_EQ(w.residual, 0u);
    auto r = client->execute(read10(10, 8), 8 * kBlock, true, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_TRUE(r.status_in_data_in) << "§11.7.4: GOOD status rides in the final Data-In";
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.data, data);
    // LUN 1 is a different unit: the same LBA there holds zeros.
    auto other = client->execute(test_unit_ready(), 0, false, false, {}, 1);  // its power-on UA
    EXPECT_EQ(other.status, 0x02);
    auto r1 = client->execute(read10(10, 8), 8 * kBlock, true, false, {}, 1);
    EXPECT_EQ(r1.status, 0);
    EXPECT_EQ(r1.data, std::vector<std::byte>(8 * kBlock));
}

// Immediate data is received into a staging buffer before its command is ordered: a command
// held behind a CmdSN gap keeps its own copy, and the command that fills the gap (received into
// the same staging buffer) does not overwrite it.
TEST_F(ScsiTask, ImmediateDataOfACommandHeldBehindACmdSnGapIsItsOwn) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const auto early = pattern(64 * kBlock, 41), late = pattern(64 * kBlock, 42);
    const std::uint32_t first_sn = client->cmd_sn;
    auto gap_filler = client->scsi_command(write10(300, 64), 64 * kBlock, false, true, early);
    auto held = client->scsi_command(write10(400, 64), 64 * kBlock, false, true, late);
    ASSERT_EQ(iscsi::ScsiCommandView{held.bhs}.cmd_sn(), first_sn + 1);
    ASSERT_TRUE(client->send(held));  // CmdSN first+1 before first: held
    EXPECT_TRUE(client->expect_silence(100ms));
    ASSERT_TRUE(client->send(gap_filler));
    auto a = client->collect(gap_filler.bhs.initiator_task_tag());
    auto b = client->collect(held.bhs.initiator_task_tag());
    ASSERT_TRUE(a.completed && b.completed) << a.error << b.error;
    EXPECT_EQ(a.status, 0);
    EXPECT_EQ(b.status, 0);
    EXPECT_EQ(read_back(*client, 300, 64), early);
    EXPECT_EQ(read_back(*client, 400, 64), late);
}

// Immediate data longer than what the CDB writes: the task keeps the CDB's bytes and reports
// the rest as a residual underflow (RFC 7143 §11.4.5.1); the blocks after them are untouched.
TEST_F(ScsiTask, ImmediateDataBeyondWhatTheCdbWritesIsNotWritten) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const auto data = pattern(64 * kBlock, 43);
    auto w = client->execute(write10(500, 32), 64 * kBlock, false, true, data);
    ASSERT_TRUE(w.completed) << w.error;
    EXPECT_EQ(w.status, 0);
    EXPECT_TRUE(w.underflow);
    EXPECT_EQ(w.residual, 32u * kBlock);
    EXPECT_EQ(read_back(*client, 500, 32), std::vector<std::byte>(data.begin(), data.begin() + 32 * kBlock));
    EXPECT_EQ(read_back(*client, 532, 32), std::vector<std::byte>(32 * kBlock));
}

TEST_F(ScsiTask, InitialR2TSolicitsEachMaxBurstLengthWithOneR2TOutstanding) {
    auto client = logged_in({{"InitialR2T", "Yes"}, {"ImmediateData", "No"}, {"MaxBurstLength", "8192"}});
    ASSERT_NE(client, nullptr);
    constexpr std::uint32_t kLength = 64 * 1024;
    const auto data = pattern(kLength, 9);
    auto cmd = client->scsi_command(write10(100, kLength / kBlock), kLength, false, true);
    const std::uint32_t itt = cmd.bhs.initiator_task_tag();
    ASSERT_TRUE(client->send(cmd));
    std::uint32_t ttt_seen = 0;
    for (std::uint32_t burst = 0; burst < kLength / 8192; ++burst) {
        auto pdu = client->recv();
        ASSERT_TRUE(pdu) << recv_error_name(pdu.error());
        ASSERT_EQ(pdu->bhs.opcode(), Opcode::r2t) << describe(*pdu);
        R2tView r2t{pdu->bhs};
        EXPECT_TRUE(pdu->bhs.final());
        EXPECT_EQ(pdu->bhs.initiator_task_tag(), itt);
        EXPECT_NE(r2t.target_transfer_tag(), kReservedTag);
        EXPECT_NE(r2t.target_transfer_tag(), ttt_seen) << "each R2T has its own TTT";
        ttt_seen = r2t.target_transfer_tag();
        EXPECT_EQ(r2t.r2t_sn(), burst) << "§11.8.5: R2TSN counts the task's R2Ts from 0";
        EXPECT_EQ(r2t.buffer_offset(), burst * 8192);
        EXPECT_EQ(r2t.desired_data_transfer_length(), 8192u) << "§13.13: no more than MaxBurstLength";
        // Half the burst: MaxOutstandingR2T=1, so no further R2T may come before the burst ends.
        const std::uint32_t off = r2t.buffer_offset();
        ASSERT_TRUE(client->send(client->data_out(
            itt, ttt_seen, 0, off, std::vector<std::byte>(data.begin() + off, data.begin() + off + 4096), false)));
        if (burst == 0) {
            EXPECT_TRUE(client->expect_silence(300ms));
        }
        ASSERT_TRUE(client->send(
            client->data_out(itt, ttt_seen, 1, off + 4096,
                             std::vector<std::byte>(data.begin() + off + 4096, data.begin() + off + 8192), true)));
    }
    auto result = client->collect(itt);
    ASSERT_TRUE(result.completed) << result.error;
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(read_back(*client, 100, kLength / kBlock), data);
}

TEST_F(ScsiTask, UnsolicitedDataUpToFirstBurstLengthThenR2TForTheRest) {
    auto client = logged_in({{"InitialR2T", "No"}, {"FirstBurstLength", "16384"}});
    ASSERT_NE(client, nullptr);
    constexpr std::uint32_t kLength = 64 * 1024;
    const auto data = pattern(kLength, 21);
    // 4 KiB immediate data with F=0: unsolicited Data-Out follows (§11.3.4, §13.10).
    auto cmd = client->scsi_command(write10(200, kLength / kBlock), kLength, false, true,
                                    std::vector<std::byte>(data.begin(), data.begin() + 4096), false);
    const std::uint32_t itt = cmd.bhs.initiator_task_tag();
    ASSERT_TRUE(client->send(cmd));
    for (std::uint32_t sn = 0; sn < 3; ++sn) {
        const std::uint32_t off = 4096 * (sn + 1);
        ASSERT_TRUE(client->send(client->data_out(itt, kReservedTag, sn, off,
                                                  std::vector<std::byte>(data.begin() + off, data.begin() + off + 4096),
                                                  sn == 2)));
    }
    auto pdu = client->recv();
    ASSERT_TRUE(pdu) << recv_error_name(pdu.error());
    ASSERT_EQ(pdu->bhs.opcode(), Opcode::r2t) << describe(*pdu);
    R2tView r2t{pdu->bhs};
    // §13.14: the unsolicited part (immediate + Data-Out) is FirstBurstLength; R2T asks for the rest.
    EXPECT_EQ(r2t.buffer_offset(), 16384u);
    EXPECT_EQ(r2t.desired_data_transfer_length(), kLength - 16384);
    EXPECT_EQ(r2t.r2t_sn(), 0u);
    ASSERT_TRUE(client->send(client->data_out(itt, r2t.target_transfer_tag(), 0, 16384,
                                              std::vector<std::byte>(data.begin() + 16384, data.end()), true)));
    auto result = client->collect(itt);
    ASSERT_TRUE(result.completed) << result.error;
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(read_back(*client, 200, kLength / kBlock), data);
}

TEST_F(ScsiTask, DataInIsSplitAtTheInitiatorsMaxRecvDataSegmentLength) {
    auto client = logged_in({{"MaxRecvDataSegmentLength", "4096"}, {"MaxBurstLength", "8192"}});
    ASSERT_NE(client, nullptr);
    const auto data = pattern(16384, 77);
    ASSERT_EQ(client->execute(write10(300, 32), 16384, false, true, data).status, 0);
    auto cmd = client->scsi_command(read10(300, 32), 16384, true, false);
    ASSERT_TRUE(client->send(cmd));
    auto r = client->collect(cmd.bhs.initiator_task_tag());
    ASSERT_TRUE(r.completed) << r.error;
    ASSERT_EQ(r.data_in.size(), 4u);
    for (std::uint32_t i = 0; i < 4; ++i) {
        const Bhs& bhs = r.data_in[i].bhs;
        DataInView din{bhs};
        EXPECT_EQ(r.data_in[i].data.size(), 4096u);
        EXPECT_EQ(din.data_sn(), i) << "§11.7.5: DataSN counts the task's Data-In from 0";
        EXPECT_EQ(din.buffer_offset(), i * 4096);
        EXPECT_EQ(din.target_transfer_tag(), kReservedTag);
        EXPECT_FALSE(din.acknowledge());
        // §11.7.1: F ends each MaxBurstLength (8192) sequence; S only on the last PDU.
        EXPECT_EQ(bhs.final(), i % 2 == 1) << "PDU " << i;
        EXPECT_EQ(din.status_present(), i == 3) << "PDU " << i;
    }
    EXPECT_EQ(r.status, 0);
    EXPECT_FALSE(r.overflow || r.underflow);
    EXPECT_EQ(r.residual, 0u);
    EXPECT_EQ(r.data, data);
}

// A READ of a RAM (or tmpfs) LUN sends its Data-In straight from the store's memory, read when
// the channel writes it. An ORDERED WRITE of the same blocks, arriving in the same segment, must
// still wait for the READ to end (SAM-5 §8.6): the READ returns the bytes from before it.
TEST_F(ScsiTask, OrderedWriteAfterAReadOfTheSameBlocksDoesNotChangeWhatTheReadReturns) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const auto before = pattern(4 * kBlock, 21);
    const auto after = pattern(4 * kBlock, 22);
    ASSERT_EQ(client->execute(write10(40, 4), 4 * kBlock, false, true, before).status, 0);

    auto read = client->scsi_command(read10(40, 4), 4 * kBlock, true, false);
    auto write = client->scsi_command(write10(40, 4), 4 * kBlock, false, true, after);
    iscsi::ScsiCommandView{write.bhs}.set_attribute(iscsi::TaskAttribute::ordered);
    auto both = client->encode(read);  // one send: the target handles both in one turn
    const auto second = client->encode(write);
    both.insert(both.end(), second.begin(), second.end());
    ASSERT_TRUE(client->send_bytes(both));

    auto r = client->collect(read.bhs.initiator_task_tag());
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.data, before);
    auto w = client->collect(write.bhs.initiator_task_tag());
    ASSERT_TRUE(w.completed) << w.error;
    EXPECT_EQ(w.status, 0);
    auto again = client->execute(read10(40, 4), 4 * kBlock, true, false);
    EXPECT_EQ(again.data, after);
}

// With a data digest the target computes the digest over the bytes it sends: Data-In then comes
// from a buffer read for the command, and arrives with a digest that checks.
TEST_F(ScsiTask, ReadWithDataDigestSendsDigestedDataIn) {
    auto client = logged_in({{"DataDigest", "CRC32C"}});
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(client->data_digest);
    const auto data = pattern(8 * kBlock, 23);
    ASSERT_EQ(client->execute(write10(60, 8), 8 * kBlock, false, true, data).status, 0);
    auto r = client->execute(read10(60, 8), 8 * kBlock, true, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.data, data);
}

// ---- residuals (RFC 7143 §11.4.5; notes/iscsi-tests.md §4 iSCSIResiduals) ----

TEST_F(ScsiTask, ReadWithZeroExpectedLengthIsGoodWithOverflowAndNoData) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    auto r = client->execute(read10(0, 1), 0, true, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_FALSE(r.status_in_data_in);
    EXPECT_TRUE(r.data_in.empty());
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.overflow);
    EXPECT_FALSE(r.underflow);
    EXPECT_EQ(r.residual, kBlock);
}

TEST_F(ScsiTask, ReadShorterThanExpectedLengthReportsUnderflow) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    auto r = client->execute(read10(0, 1), 10000, true, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.data.size(), kBlock);
    EXPECT_TRUE(r.underflow);
    EXPECT_FALSE(r.overflow);
    EXPECT_EQ(r.residual, 10000 - kBlock);
}

TEST_F(ScsiTask, ReadLongerThanExpectedLengthSendsOnlyExpectedLengthAndReportsOverflow) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const auto data = pattern(2 * kBlock, 5);
    ASSERT_EQ(client->execute(write10(0, 2), 2 * kBlock, false, true, data).status, 0);
    auto r = client->execute(read10(0, 1), 200, true, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.data, std::vector<std::byte>(data.begin(), data.begin() + 200));
    EXPECT_TRUE(r.overflow);
    EXPECT_EQ(r.residual, kBlock - 200);
    auto two = client->execute(read10(0, 2), kBlock, true, false);
    EXPECT_EQ(two.status, 0);
    EXPECT_EQ(two.data, std::vector<std::byte>(data.begin(), data.begin() + kBlock));
    EXPECT_TRUE(two.overflow);
    EXPECT_EQ(two.residual, kBlock);
}

TEST_F(ScsiTask, WriteWithZeroExpectedLengthSendsNoR2TAndReportsOverflow) {
    auto client = logged_in({{"InitialR2T", "Yes"}, {"ImmediateData", "No"}});
    ASSERT_NE(client, nullptr);
    auto r = client->execute(write10(0, 1), 0, false, true);
    ASSERT_TRUE(r.completed) << r.error;  // an R2T would end collect() with an error
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.overflow);
    EXPECT_EQ(r.residual, kBlock);
}

TEST_F(ScsiTask, WriteWithExpectedLengthAboveTransferLengthWritesOnlyTheTransferLength) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const auto a = std::vector<std::byte>(2 * kBlock, std::byte{'a'});
    const auto b = std::vector<std::byte>(2 * kBlock, std::byte{'b'});
    ASSERT_EQ(client->execute(write10(0, 2), 2 * kBlock, false, true, a).status, 0);
    auto r = client->execute(write10(0, 1), 2 * kBlock, false, true, b);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.underflow);
    EXPECT_EQ(r.residual, kBlock);
    auto back = read_back(*client, 0, 2);
    ASSERT_EQ(back.size(), 2 * kBlock);
    EXPECT_EQ(back[0], std::byte{'b'});
    EXPECT_EQ(back[kBlock], std::byte{'a'}) << "block 1 untouched";
}

TEST_F(ScsiTask, WriteOneBlockPastTheMaximumTransferLengthIsRefusedWithoutSolicitingData) {
    // One bound for the Block Limits page, the LU's check and the target's buffering: a WRITE one
    // block longer than MAXIMUM TRANSFER LENGTH gets INVALID FIELD IN CDB (SBC-3 §6.5.3) with no
    // R2T, so the target never holds a buffer of that size.
    auto client = logged_in({{"InitialR2T", "Yes"}, {"ImmediateData", "No"}});
    ASSERT_NE(client, nullptr);
    constexpr std::uint32_t kBlocks = scsi::kMaxTransferBytes / kBlock + 1;
    auto pdu = client->scsi_command(write10(0, kBlocks), kBlocks * kBlock, false, true, {}, true, 0);
    ASSERT_TRUE(client->send(pdu));
    auto r = client->collect(pdu.bhs.initiator_task_tag());
    ASSERT_TRUE(r.completed) << "an R2T came first: " << r.error;
    EXPECT_EQ(r.status, 0x02);
    EXPECT_EQ(r.sense_key(), 0x05);
    EXPECT_EQ(r.asc(), 0x24);
    EXPECT_EQ(r.ascq(), 0x00);
    // One block fewer is the largest transfer the LU accepts: it is solicited (and then runs past
    // this 1 MiB LU, which is not what is measured here).
    auto ok = client->scsi_command(write10(0, kBlocks - 1), (kBlocks - 1) * kBlock, false, true, {}, true, 0);
    ASSERT_TRUE(client->send(ok));
    auto first = client->recv();
    ASSERT_TRUE(first) << recv_error_name(first.error());
    EXPECT_EQ(first->bhs.opcode(), Opcode::r2t) << describe(*first);
}

TEST_F(ScsiTask, WriteWithExpectedLengthBelowTransferLengthWritesOnlyExpectedLength) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    ASSERT_EQ(
        client->execute(write10(0, 2), 2 * kBlock, false, true, std::vector<std::byte>(2 * kBlock, std::byte{'a'}))
            .status,
        0);
    auto r = client->execute(write10(0, 2), kBlock, false, true, std::vector<std::byte>(kBlock, std::byte{'b'}));
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.overflow);
    EXPECT_EQ(r.residual, kBlock);
    auto back = read_back(*client, 0, 2);
    ASSERT_EQ(back.size(), 2 * kBlock);
    EXPECT_EQ(back[0], std::byte{'b'});
    EXPECT_EQ(back[kBlock], std::byte{'a'});
}

// ---- DataSN (RFC 7143 §7.9 -> §7.8; notes §0.5) ----

class DataSequence : public ScsiTask {
protected:
    void expect_protocol_crc_error(const ScsiResult& r) {
        ASSERT_TRUE(r.completed) << r.error;
        EXPECT_FALSE(r.status_in_data_in);
        EXPECT_EQ(r.status, 0x02);
        EXPECT_EQ(r.sense_key(), 0x0b) << "ABORTED COMMAND";
        EXPECT_EQ(r.asc(), 0x47);
        EXPECT_EQ(r.ascq(), 0x05) << "PROTOCOL SERVICE CRC ERROR";
    }
};

TEST_F(DataSequence, RepeatedDataSnInAnR2TSequenceEndsTheTaskWithProtocolServiceCrcError) {
    auto client = logged_in({{"InitialR2T", "Yes"}, {"ImmediateData", "No"}});
    ASSERT_NE(client, nullptr);
    const auto before = read_back(*client, 100, 2);
    auto cmd = client->scsi_command(write10(100, 2), 2 * kBlock, false, true);
    const std::uint32_t itt = cmd.bhs.initiator_task_tag();
    ASSERT_TRUE(client->send(cmd));
    auto r2t = client->recv();
    ASSERT_TRUE(r2t);
    ASSERT_EQ(r2t->bhs.opcode(), Opcode::r2t);
    const std::uint32_t ttt = R2tView{r2t->bhs}.target_transfer_tag();
    ASSERT_TRUE(client->send(client->data_out(itt, ttt, 0, 0, pattern(kBlock, 1), false)));
    ASSERT_TRUE(client->send(client->data_out(itt, ttt, 0, kBlock, pattern(kBlock, 2), true)));  // should be 1
    expect_protocol_crc_error(client->collect(itt));
    // A late Data-Out of the ended task is discarded silently.
    ASSERT_TRUE(client->send(client->data_out(itt, ttt, 1, kBlock, pattern(kBlock, 2), true)));
    EXPECT_TRUE(client->expect_silence(200ms));
    EXPECT_EQ(read_back(*client, 100, 2), before) << "nothing written";
}

TEST_F(DataSequence, DataSnOutOfRangeAndSwappedAreRefused) {
    auto client = logged_in({{"InitialR2T", "Yes"}, {"ImmediateData", "No"}});
    ASSERT_NE(client, nullptr);
    for (std::uint32_t bad : {27u, 0xffffffffu}) {
        auto cmd = client->scsi_command(write10(100, 1), kBlock, false, true);
        const std::uint32_t itt = cmd.bhs.initiator_task_tag();
        ASSERT_TRUE(client->send(cmd));
        auto r2t = client->recv();
        ASSERT_TRUE(r2t);
        ASSERT_EQ(r2t->bhs.opcode(), Opcode::r2t);
        ASSERT_TRUE(client->send(
            client->data_out(itt, R2tView{r2t->bhs}.target_transfer_tag(), bad, 0, pattern(kBlock, 1), true)));
        expect_protocol_crc_error(client->collect(itt));
    }
    auto cmd = client->scsi_command(write10(100, 2), 2 * kBlock, false, true);
    const std::uint32_t itt = cmd.bhs.initiator_task_tag();
    ASSERT_TRUE(client->send(cmd));
    auto r2t = client->recv();
    ASSERT_TRUE(r2t);
    const std::uint32_t ttt = R2tView{r2t->bhs}.target_transfer_tag();
    ASSERT_TRUE(client->send(client->data_out(itt, ttt, 1, 0, pattern(kBlock, 1), false)));
    ASSERT_TRUE(client->send(client->data_out(itt, ttt, 0, kBlock, pattern(kBlock, 2), true)));
    expect_protocol_crc_error(client->collect(itt));
    expect_fresh_login_works();
}

TEST_F(DataSequence, WrongDataSnInTheUnsolicitedSequenceIsRefused) {
    auto client = logged_in({{"InitialR2T", "No"}});
    ASSERT_NE(client, nullptr);
    auto cmd = client->scsi_command(write10(100, 2), 2 * kBlock, false, true, {}, false);
    const std::uint32_t itt = cmd.bhs.initiator_task_tag();
    ASSERT_TRUE(client->send(cmd));
    // The unsolicited sequence starts at DataSN 0 (§11.7.5); 1 is out of sequence.
    ASSERT_TRUE(client->send(client->data_out(itt, kReservedTag, 1, 0, pattern(2 * kBlock, 1), true)));
    expect_protocol_crc_error(client->collect(itt));
}

}  // namespace
}  // namespace iscsikit::target::testing
