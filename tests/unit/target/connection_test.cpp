// Framing on a target connection: header and data digests (RFC 7143 §7.8, §11.1, §13.1) and the
// receive limit MaxRecvDataSegmentLength (§11.2.1.3, §13.12).
#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

class Connection : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        start();
    }
};

TEST_F(Connection, NegotiatedHeaderDigestIsCarriedAndCheckedBothWays) {
    auto client = logged_in({{"HeaderDigest", "CRC32C"}}, false);
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(client->header_digest) << "the target answered HeaderDigest=CRC32C";
    ASSERT_FALSE(client->data_digest);
    // Every response must carry a correct digest: recv() checks it and fails otherwise.
    auto ua = client->execute(test_unit_ready(), 0, false, false);
    ASSERT_TRUE(ua.completed) << ua.error;
    EXPECT_EQ(ua.status, 0x02);
    const auto data = pattern(4096, 4);
    EXPECT_EQ(client->execute(write10(8, 8), 4096, false, true, data).status, 0);
    auto r = client->execute(read10(8, 8), 4096, true, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.data, data);

    // §7.8: a header digest error loses the PDU boundary; at ErrorRecoveryLevel 0 the connection ends.
    auto bytes = client->encode(client->scsi_command(test_unit_ready(), 0, false, false));
    ASSERT_EQ(bytes.size(), iscsi::kBhsLength + 4);
    bytes[iscsi::kBhsLength] ^= std::byte{0x01};
    ASSERT_TRUE(client->send_bytes(bytes));
    EXPECT_TRUE(client->expect_closed(2000ms));
    EXPECT_TRUE(client->before_close.empty());
    expect_fresh_login_works();
}

TEST_F(Connection, DataDigestErrorOnANopOutIsRejectedAndItsCmdSnIsNotTaken) {
    auto client = logged_in({{"DataDigest", "CRC32C"}});
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(client->data_digest);
    const std::uint32_t cmd_sn = client->cmd_sn;
    auto ping = client->nop_out(to_bytes("digest me"));
    auto bytes = client->encode(ping);
    bytes.back() ^= std::byte{0x80};  // the data digest
    ASSERT_TRUE(client->send_bytes(bytes));
    auto rsp = client->recv();
    ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
    ASSERT_EQ(rsp->bhs.opcode(), Opcode::reject) << describe(*rsp);
    // §7.8: "answer with a Reject PDU with a reason code of Data-Digest-Error and discard the PDU".
    EXPECT_EQ(rsp->bhs.u8(2), 0x02);
    EXPECT_EQ(rsp->bhs.initiator_task_tag(), kReservedTag);
    ASSERT_EQ(rsp->data.size(), iscsi::kBhsLength);
    EXPECT_TRUE(std::equal(rsp->data.begin(), rsp->data.end(), bytes.begin()));
    EXPECT_EQ(iscsi::RejectView{rsp->bhs}.exp_cmd_sn(), cmd_sn) << "the discarded PDU was not received";
    // The initiator retries the same PDU: it is answered, and now takes its CmdSN.
    ASSERT_TRUE(client->send(ping));
    auto echo = client->recv();
    ASSERT_TRUE(echo) << recv_error_name(echo.error());
    ASSERT_EQ(echo->bhs.opcode(), Opcode::nop_in);
    EXPECT_EQ(echo->data, to_bytes("digest me"));
    EXPECT_EQ(iscsi::NopInView{echo->bhs}.exp_cmd_sn(), cmd_sn + 1);
}

TEST_F(Connection, DataDigestErrorOnADataOutIsRejectedAndTheTaskEndsWithProtocolServiceCrcError) {
    auto client = logged_in({{"DataDigest", "CRC32C"}, {"InitialR2T", "Yes"}, {"ImmediateData", "No"}});
    ASSERT_NE(client, nullptr);
    const auto before = client->execute(read10(60, 2), 2 * kBlock, true, false).data;
    auto write = client->scsi_command(write10(60, 2), 2 * kBlock, false, true);
    const std::uint32_t itt = write.bhs.initiator_task_tag();
    ASSERT_TRUE(client->send(write));
    auto r2t = client->recv();
    ASSERT_TRUE(r2t);
    ASSERT_EQ(r2t->bhs.opcode(), Opcode::r2t);
    const std::uint32_t ttt = iscsi::R2tView{r2t->bhs}.target_transfer_tag();
    auto bad = client->encode(client->data_out(itt, ttt, 0, 0, pattern(kBlock, 1), false));
    bad.back() ^= std::byte{0x01};
    ASSERT_TRUE(client->send_bytes(bad));
    ASSERT_TRUE(client->send(client->data_out(itt, ttt, 1, kBlock, pattern(kBlock, 2), true)));
    auto rej = client->recv();
    ASSERT_TRUE(rej) << recv_error_name(rej.error());
    ASSERT_EQ(rej->bhs.opcode(), Opcode::reject) << describe(*rej);
    EXPECT_EQ(rej->bhs.u8(2), 0x02);
    // §7.8 at ErrorRecoveryLevel 0 (no recovery R2T): once the data is in, the task ends with
    // CHECK CONDITION and the iSCSI condition "protocol service CRC error" (§11.4.7.2).
    auto r = client->collect(itt);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0x02);
    EXPECT_EQ(r.sense_key(), 0x0b);
    EXPECT_EQ(r.asc(), 0x47);
    EXPECT_EQ(r.ascq(), 0x05);
    EXPECT_EQ(client->execute(read10(60, 2), 2 * kBlock, true, false).data, before) << "nothing written";
}

TEST_F(Connection, DataDigestErrorOnTheFinalDataOutStillEndsTheTask) {
    auto client = logged_in({{"DataDigest", "CRC32C"}, {"InitialR2T", "No"}});
    ASSERT_NE(client, nullptr);
    // Unsolicited, one PDU with F=1, damaged: its header still says the sequence is over.
    auto write = client->scsi_command(write10(61, 1), kBlock, false, true, {}, false);
    const std::uint32_t itt = write.bhs.initiator_task_tag();
    ASSERT_TRUE(client->send(write));
    auto bad = client->encode(client->data_out(itt, kReservedTag, 0, 0, pattern(kBlock, 1), true));
    bad[iscsi::kBhsLength + 10] ^= std::byte{0x01};  // a data byte
    ASSERT_TRUE(client->send_bytes(bad));
    auto rej = client->recv();
    ASSERT_TRUE(rej) << recv_error_name(rej.error());
    ASSERT_EQ(rej->bhs.opcode(), Opcode::reject) << describe(*rej);
    EXPECT_EQ(rej->bhs.u8(2), 0x02);
    auto r = client->collect(itt);
    ASSERT_TRUE(r.completed) << r.error << ": the task must not wait forever for data that came damaged";
    EXPECT_EQ(r.status, 0x02);
    EXPECT_EQ(r.sense_key(), 0x0b);
    EXPECT_EQ(r.asc(), 0x47);
    EXPECT_EQ(r.ascq(), 0x05);
}

TEST_F(Connection, DataSegmentUpToMaxRecvDataSegmentLengthIsAcceptedAndBeyondItClosesTheConnection) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    // The target declared MaxRecvDataSegmentLength=262144 (and so did we, for the echo).
    auto big = client->nop_out(pattern(262144, 6));
    ASSERT_TRUE(client->send(big));
    auto echo = client->recv();
    ASSERT_TRUE(echo) << recv_error_name(echo.error());
    EXPECT_EQ(echo->bhs.opcode(), Opcode::nop_in);
    EXPECT_EQ(echo->data.size(), 262144u);
    // §11.2.1.3: more than that is a protocol error; the length cannot be trusted, so the target
    // closes without reading the data.
    Bhs too_big = client->nop_out().bhs;
    too_big.set_data_segment_length(262148);
    ASSERT_TRUE(client->send_bytes(too_big.span()));
    EXPECT_TRUE(client->expect_closed(2000ms));
    EXPECT_TRUE(client->before_close.empty());
    expect_fresh_login_works();
}

// Everything above on one server, then a fresh login: nothing a peer sent broke the target.
TEST_F(Connection, TargetKeepsServingAfterMalformedInput) {
    {
        auto a = connect();
        ASSERT_TRUE(a->send_bytes(to_bytes(std::string(47, '\xff'))));  // not even a BHS, then EOF
    }
    {
        auto b = logged_in();
        ASSERT_NE(b, nullptr);
        Bhs junk;
        junk.set_u8(0, 0x3e);  // a reserved target opcode from the initiator
        junk.set_total_ahs_length(255);
        ASSERT_TRUE(b->send_bytes(junk.span()));
        std::vector<std::byte> filler(255 * 4);
        ASSERT_TRUE(b->send_bytes(filler));
        auto rsp = b->recv(1000ms);
        ASSERT_TRUE(rsp) << recv_error_name(rsp.error());
        ASSERT_EQ(rsp->bhs.opcode(), Opcode::reject) << describe(*rsp);
        EXPECT_EQ(rsp->bhs.u8(2), 0x05) << "a reserved opcode: Command not supported";
        EXPECT_EQ(rsp->data.size(), iscsi::kBhsLength);
        // The 1020-byte AHS was skipped whole: the next PDU on the connection is understood.
        EXPECT_EQ(b->execute(test_unit_ready(), 0, false, false).status, 0);
    }
    {
        auto c = logged_in({}, false);
        ASSERT_NE(c, nullptr);
        auto half = c->encode(c->scsi_command(write10(0, 64), 32768, false, true, pattern(32768, 1)));
        half.resize(half.size() / 2);
        ASSERT_TRUE(c->send_bytes(half));  // the connection drops mid-PDU
    }
    expect_fresh_login_works();
}

}  // namespace
}  // namespace iscsikit::target::testing
