// LUNs added, removed and resized while a session runs (Server::add_lun, remove_lun,
// resize_lun): the session's next command sees the unit attention SPC-4 §6.33 (3Fh/0Eh) or the
// capacity change (2Ah/09h) asks for, then the new inventory; a removed LUN answers LOGICAL UNIT
// NOT SUPPORTED. Driven as an initiator would, over the in-process seam.
#include <vector>

#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

class LiveLuns : public TargetTest {
protected:
    void SetUp() override {
        TargetTest::SetUp();
        // Live changes validate the whole running configuration, where port 0 is not valid.
        start([](DaemonConfig& c) { c.targets[0].portals = {PortalAddress{"127.0.0.1", pick_free_port()}}; });
    }
    // Takes the POWER ON attention every LUN first shows a new nexus.
    static void settle(RawClient& client, std::uint16_t lun) {
        client.execute(test_unit_ready(), 0, false, false, {}, lun);
    }
    // READ CAPACITY(10): the number of blocks, or 0 on any error.
    static std::uint64_t blocks(RawClient& client, std::uint16_t lun) {
        Cdb cdb{};
        cdb[0] = 0x25;
        auto r = client.execute(cdb, 8, true, false, {}, lun);
        if (r.status != 0 || r.data.size() < 8) return 0;
        const auto byte = [&](std::size_t i) { return std::to_integer<std::uint64_t>(r.data[i]); };
        return (byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3)) + 1;
    }
    static void expect_ua(RawClient& client, std::uint16_t lun, std::uint8_t asc, std::uint8_t ascq) {
        auto r = client.execute(test_unit_ready(), 0, false, false, {}, lun);
        ASSERT_TRUE(r.completed) << r.error;
        EXPECT_EQ(r.status, 0x02);
        EXPECT_EQ(r.sense_key(), 0x06) << "UNIT ATTENTION";
        EXPECT_EQ(r.asc(), asc);
        EXPECT_EQ(r.ascq(), ascq);
        auto next = client.execute(test_unit_ready(), 0, false, false, {}, lun);
        EXPECT_EQ(next.status, 0) << "the unit attention is reported once";
    }
};

TEST_F(LiveLuns, AddedLunIsReportedAfterTheUnitAttention) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    LunSpec spec;
    spec.kind = LunSpec::Kind::ram;
    spec.size = 2 * kLunBytes;
    spec.block_size = kBlock;
    auto added = server().add_lun(kTargetIqn, spec);
    ASSERT_TRUE(added) << added.error().message;
    EXPECT_EQ(*added, 2u) << "the lowest free number";
    expect_ua(*client, 0, 0x3f, 0x0e);
    EXPECT_EQ(report_luns(*client), (std::vector<std::uint64_t>{0, 1, 2}));
    settle(*client, 2);
    EXPECT_EQ(blocks(*client, 2), 2 * kLunBytes / kBlock);
    spec.lun = 2;
    EXPECT_FALSE(server().add_lun(kTargetIqn, spec)) << "a number in use";
}

TEST_F(LiveLuns, ResizedLunReportsTheNewCapacityAfterTheUnitAttention) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    settle(*client, 1);
    ASSERT_TRUE(server().resize_lun(kTargetIqn, 1, 4 * kLunBytes));
    expect_ua(*client, 1, 0x2a, 0x09);
    EXPECT_EQ(blocks(*client, 1), 4 * kLunBytes / kBlock);
    // LUN 0 was not resized: no attention there
    EXPECT_EQ(client->execute(test_unit_ready(), 0, false, false, {}, 0).status, 0);
    auto shrink = server().resize_lun(kTargetIqn, 1, kLunBytes);
    ASSERT_FALSE(shrink);
    EXPECT_NE(shrink.error().message.find("shrinking would discard data"), std::string::npos) << shrink.error().message;
    EXPECT_EQ(blocks(*client, 1), 4 * kLunBytes / kBlock) << "a refused resize changes nothing";
    const auto config = server().running_config();
    EXPECT_EQ(config.targets.at(0).find_lun(1)->size, 4 * kLunBytes) << "save writes the new size";
}

TEST_F(LiveLuns, RemovedLunAnswersLogicalUnitNotSupported) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    settle(*client, 1);
    ASSERT_TRUE(server().remove_lun(kTargetIqn, 0));
    expect_ua(*client, 1, 0x3f, 0x0e);
    EXPECT_EQ(report_luns(*client), (std::vector<std::uint64_t>{1}));
    auto r = client->execute(read10(0, 1), kBlock, true, false, {}, 0);
    EXPECT_EQ(r.status, 0x02);
    EXPECT_EQ(r.sense_key(), 0x05) << "ILLEGAL REQUEST";
    EXPECT_EQ(r.asc(), 0x25) << "LOGICAL UNIT NOT SUPPORTED";
    EXPECT_FALSE(server().remove_lun(kTargetIqn, 0)) << "already gone";
    EXPECT_EQ(server().running_config().targets.at(0).luns.size(), 1u);
}

TEST_F(LiveLuns, RemovedTargetClosesItsSessionsAndRefusesLogins) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    ASSERT_TRUE(server().remove_target(kTargetIqn));
    EXPECT_TRUE(server().targets().empty());
    auto r = client->execute(test_unit_ready(), 0, false, false);
    EXPECT_FALSE(r.completed) << "the session of a removed target is closed";
    auto again = connect();
    auto login = again->login(libiscsi_keys(again->initiator_name));
    ASSERT_TRUE(login);
    EXPECT_EQ(login->status(), 0x0203) << "target not found";
}

TEST_F(LiveLuns, ReloadGrowsALunTheFileMakesLargerAndNeverShrinksOne) {
    auto client = logged_in();
    ASSERT_NE(client, nullptr);
    settle(*client, 1);
    auto fresh = server().running_config();
    fresh.targets.at(0).luns.at(1).size = 2 * kLunBytes;
    auto report = server().reload(fresh);
    ASSERT_EQ(report.applied.size(), 1u) << (report.needs_restart.empty() ? "" : report.needs_restart[0]);
    EXPECT_NE(report.applied[0].find("grown"), std::string::npos) << report.applied[0];
    expect_ua(*client, 1, 0x2a, 0x09);
    EXPECT_EQ(blocks(*client, 1), 2 * kLunBytes / kBlock);

    fresh.targets.at(0).luns.at(1).size = kLunBytes;
    report = server().reload(fresh);
    EXPECT_TRUE(report.applied.empty());
    ASSERT_EQ(report.needs_restart.size(), 1u);
    EXPECT_NE(report.needs_restart[0].find("never shrinks"), std::string::npos) << report.needs_restart[0];
    EXPECT_EQ(blocks(*client, 1), 2 * kLunBytes / kBlock);
}

}  // namespace
}  // namespace iscsikit::target::testing
