// READs of a file that lives in memory (tmpfs) send their large Data-In segments as the file's
// pages by reference (sendfile): the pages are read when the initiator reads them, after the
// target has sent the status. An ORDERED task, which may write those blocks, therefore waits
// until the initiator has shown it read them (SAM-5 §8.6): an ExpStatSN past the READ's StatSN,
// or the answer to a NOP-In ping sent after the READ (RFC 7143 §11.19).
#include <unistd.h>

#include "skip_or_fail.hpp"
#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

constexpr std::uint64_t kFileBytes = 4u << 20;
constexpr std::uint32_t kReadBytes = 128 * 1024;  // one Data-In PDU, over Channel::kMinFileSegment
constexpr std::uint16_t kReadBlocks = kReadBytes / kBlock;

class FilePages : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        char name[] = "/dev/shm/iscsikit-pages-XXXXXX";
        const int fd = ::mkstemp(name);
        if (fd < 0) ISCSIKIT_SKIP_OR_FAIL("needs a writable tmpfs at /dev/shm");
        ::close(fd);
        ::unlink(name);  // the target creates it, of the LUN's size
        path_ = name;
        start([&](DaemonConfig& config) {
            LunSpec& lun = config.targets[0].luns[0];
            lun.kind = LunSpec::Kind::file;
            lun.path = path_;
            lun.size = kFileBytes;
        });
    }
    void TearDown() override {
        TargetTest::TearDown();
        if (!path_.empty()) ::unlink(path_.c_str());
    }

    // Writes `data` at `lba` through the target and checks the status.
    static void put(RawClient& c, std::uint32_t lba, const std::vector<std::byte>& data) {
        const auto blocks = static_cast<std::uint16_t>(data.size() / kBlock);
        auto w = c.execute(write10(lba, blocks), static_cast<std::uint32_t>(data.size()), false, true, data);
        ASSERT_TRUE(w.completed) << w.error;
        ASSERT_EQ(w.status, 0);
    }

    // A READ of kReadBytes at LBA 0 and an ORDERED one-block WRITE there, sent in one write, both
    // acknowledging only the status the client had before.
    std::pair<Pdu, Pdu> read_then_ordered_write(RawClient& c, const std::vector<std::byte>& block) {
        auto read = c.scsi_command(read10(0, kReadBlocks), kReadBytes, true, false);
        auto write = c.scsi_command(write10(0, 1), kBlock, false, true, block);
        iscsi::ScsiCommandView{write.bhs}.set_attribute(iscsi::TaskAttribute::ordered);
        auto both = c.encode(read);
        const auto second = c.encode(write);
        both.insert(both.end(), second.begin(), second.end());
        EXPECT_TRUE(c.send_bytes(both));
        return {read, write};
    }

    std::string path_;
};

// Over TCP, where the pages really go by sendfile: a 1 MiB READ (four 256 KiB Data-In PDUs)
// returns the bytes written, and so does one that starts in the middle of the file.
TEST_F(FilePages, LargeReadsOverTcpReturnTheFilesBytes) {
    auto client = connect_tcp();
    ASSERT_TRUE(client->connected());
    auto login = client->login(libiscsi_keys(client->initiator_name));
    ASSERT_TRUE(login && login->status() == 0);
    client->execute(test_unit_ready(), 0, false, false);  // the power-on unit attention
    const auto data = pattern(1u << 20, 41);
    for (std::uint32_t at = 0; at < data.size(); at += 256 * 1024)
        put(*client, 2048 + at / kBlock, std::vector<std::byte>(data.begin() + at, data.begin() + at + 256 * 1024));
    auto r = client->execute(read10(2048, (1u << 20) / kBlock), 1u << 20, true, false);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.data_in.size(), 4u);
    EXPECT_TRUE(r.data == data);
    auto part = client->execute(read10(2048 + 300, 512), 512 * kBlock, true, false);
    ASSERT_TRUE(part.completed) << part.error;
    EXPECT_TRUE(std::equal(part.data.begin(), part.data.end(), data.begin() + 300 * kBlock));
}

// The ORDERED WRITE arrives before the initiator has read the READ's data: the target pings,
// and runs the WRITE only once the ping is answered. The READ returns the bytes from before.
TEST_F(FilePages, AnOrderedWriteWaitsForTheAnswerToAPingAfterTheLentRead) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const auto before = pattern(kReadBytes, 42);
    put(*client, 0, before);
    const std::uint32_t stale = client->exp_stat_sn;
    const auto block = pattern(kBlock, 43);
    auto [read, write] = read_then_ordered_write(*client, block);

    auto r = client->collect(read.bhs.initiator_task_tag());
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.data == before);
    auto ping = client->recv();
    ASSERT_TRUE(ping) << recv_error_name(ping.error());
    ASSERT_EQ(ping->bhs.opcode(), Opcode::nop_in)
        << "the ORDERED WRITE ran while the READ's pages were still unread: " << describe(*ping);
    EXPECT_EQ(ping->bhs.initiator_task_tag(), kReservedTag);
    EXPECT_NE(iscsi::NopInView{ping->bhs}.target_transfer_tag(), kReservedTag) << "§11.19: a ping asks for an answer";

    client->exp_stat_sn = stale;  // the answer alone must do
    ASSERT_TRUE(client->send(client->nop_reply(*ping)));
    auto w = client->collect(write.bhs.initiator_task_tag());
    ASSERT_TRUE(w.completed) << w.error;
    EXPECT_EQ(w.status, 0);
    auto now = client->execute(read10(0, 1), kBlock, true, false);
    EXPECT_TRUE(now.data == block);
}

// The same, answered instead by any PDU whose ExpStatSN acknowledges the READ's status (here an
// initiator NOP-Out ping of its own): that proves the READ's data read as well.
TEST_F(FilePages, AnExpStatSnPastTheLentReadLetsTheOrderedWriteRun) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    const auto before = pattern(kReadBytes, 44);
    put(*client, 0, before);
    const auto block = pattern(kBlock, 45);
    auto [read, write] = read_then_ordered_write(*client, block);

    auto r = client->collect(read.bhs.initiator_task_tag());
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_TRUE(r.data == before);
    auto ping = client->recv();
    ASSERT_TRUE(ping) << recv_error_name(ping.error());
    ASSERT_EQ(ping->bhs.opcode(), Opcode::nop_in) << describe(*ping);

    auto own = client->nop_out({}, true);  // carries the ExpStatSN the client has now
    ASSERT_TRUE(client->send(own));
    bool wrote = false, echoed = false;
    for (int i = 0; i < 2; ++i) {
        auto pdu = client->recv();
        ASSERT_TRUE(pdu) << recv_error_name(pdu.error());
        if (pdu->bhs.initiator_task_tag() == write.bhs.initiator_task_tag()) {
            ASSERT_EQ(pdu->bhs.opcode(), Opcode::scsi_response);
            EXPECT_EQ(iscsi::ScsiResponseView{pdu->bhs}.status(), 0);
            wrote = true;
        } else {
            EXPECT_EQ(pdu->bhs.initiator_task_tag(), own.bhs.initiator_task_tag()) << describe(*pdu);
            echoed = true;
        }
    }
    EXPECT_TRUE(wrote && echoed);
    auto now = client->execute(read10(0, 1), kBlock, true, false);
    EXPECT_TRUE(now.data == block);
}

// An ORDERED WRITE sent after the initiator read the READ's status (its ExpStatSN says so) runs
// at once: no ping.
TEST_F(FilePages, AnOrderedWriteAfterTheReadWasReadNeedsNoPing) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    put(*client, 0, pattern(kReadBytes, 46));
    auto r = client->execute(read10(0, kReadBlocks), kReadBytes, true, false);
    ASSERT_TRUE(r.completed) << r.error;
    auto write = client->scsi_command(write10(0, 1), kBlock, false, true, pattern(kBlock, 47));
    iscsi::ScsiCommandView{write.bhs}.set_attribute(iscsi::TaskAttribute::ordered);
    ASSERT_TRUE(client->send(write));
    auto w = client->collect(write.bhs.initiator_task_tag());
    ASSERT_TRUE(w.completed) << w.error;  // a NOP-In first would be "unexpected"
    EXPECT_EQ(w.status, 0);
}

}  // namespace
}  // namespace iscsikit::target::testing
