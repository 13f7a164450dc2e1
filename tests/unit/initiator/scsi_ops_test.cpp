// check(): a non-GOOD completion becomes an Error whose message names the operation and says the
// sense in words (initiator/scsi_ops.hpp).
#include <gtest/gtest.h>

#include "initiator/scsi_ops.hpp"

namespace iscsikit::initiator {
namespace {

Completion check_condition(scsi::SenseKey key, std::uint8_t asc, std::uint8_t ascq) {
    Completion c;
    c.status = scsi::Status::check_condition;
    c.sense = scsi::Sense::make(key, asc, ascq).encode_fixed();
    return c;
}

TEST(Check, GoodCompletionPassesThrough) {
    Completion good;
    good.transferred = 512;
    auto r = check(good, "READ(16) LBA 0+1 on LUN 0");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->transferred, 512u);
}

TEST(Check, CheckConditionNamesTheOperationAndTheSenseInWords) {
    auto r = check(check_condition(scsi::SenseKey::illegal_request, 0x21, 0x00), "READ(16) LBA 2048+8 on LUN 0");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::scsi_error);
    EXPECT_EQ(r.error().message, "READ(16) LBA 2048+8 on LUN 0: LBA out of range (ILLEGAL REQUEST, ASC/ASCQ 21h/00h)");
    EXPECT_EQ(r.error().status, 0x02);
    ASSERT_TRUE(r.error().sense);
    EXPECT_EQ(r.error().sense->key, scsi::SenseKey::illegal_request);
    EXPECT_EQ(r.error().sense->asc, 0x21);
}

TEST(Check, LogicalUnitNotSupportedIsNoSuchLun) {
    // SPC-4 Annex D: 25h/00h LOGICAL UNIT NOT SUPPORTED.
    auto r = check(check_condition(scsi::SenseKey::illegal_request, 0x25, 0x00), "TEST UNIT READY on LUN 7");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::no_such_lun);
    EXPECT_EQ(r.error().message.rfind("TEST UNIT READY on LUN 7: ", 0), 0u) << r.error().message;
}

TEST(Check, StatusWithoutSenseIsNamed) {
    Completion conflict;
    conflict.status = scsi::Status::reservation_conflict;
    auto r = check(conflict, "WRITE(16) LBA 0+8 on LUN 1");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::scsi_error);
    EXPECT_EQ(r.error().message, "WRITE(16) LBA 0+8 on LUN 1: RESERVATION CONFLICT");
    EXPECT_EQ(r.error().status, 0x18);
    EXPECT_FALSE(r.error().sense);
}

TEST(Check, ErrorsPassThroughUnchanged) {
    Result<Completion> lost = fail(ErrorKind::connection_lost, "connection to 127.0.0.1:3260 lost");
    auto r = check(lost, "READ(16) LBA 0+1 on LUN 0");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::connection_lost);
    EXPECT_EQ(r.error().message, "connection to 127.0.0.1:3260 lost");
}

}  // namespace
}  // namespace iscsikit::initiator
