// BHS accessors against hand-written header bytes, one PDU type at a time (RFC 7143 §11), and the
// setters producing those same bytes.
#include "iscsi/pdu.hpp"

#include <gtest/gtest.h>

#include "test_bytes.hpp"

namespace iscsikit::iscsi {
namespace {

using testing::hex;

// A BHS from hex text; missing trailing bytes are zero.
Bhs bhs_from(std::string_view text) {
    auto bytes = hex(text);
    EXPECT_LE(bytes.size(), kBhsLength);
    bytes.resize(kBhsLength, std::byte{0});
    return Bhs(bytes);
}

TEST(Opcode, InitiatorAndTargetOpcodesAreDisjointAndComplete) {
    for (auto op : {Opcode::nop_out, Opcode::scsi_command, Opcode::task_management_request, Opcode::login_request,
                    Opcode::text_request, Opcode::data_out, Opcode::logout_request, Opcode::snack_request}) {
        EXPECT_TRUE(is_initiator_opcode(op)) << opcode_name(op);
        EXPECT_FALSE(is_target_opcode(op)) << opcode_name(op);
    }
    for (auto op : {Opcode::nop_in, Opcode::scsi_response, Opcode::task_management_response, Opcode::login_response,
                    Opcode::text_response, Opcode::data_in, Opcode::logout_response, Opcode::r2t, Opcode::async_message,
                    Opcode::reject}) {
        EXPECT_TRUE(is_target_opcode(op)) << opcode_name(op);
        EXPECT_FALSE(is_initiator_opcode(op)) << opcode_name(op);
    }
}

TEST(Opcode, UndefinedAndVendorOpcodesBelongToNoRole) {
    for (std::uint8_t raw : {0x07, 0x0f, 0x1c, 0x1e, 0x27, 0x30, 0x3c, 0x3e}) {
        const auto op = static_cast<Opcode>(raw);
        EXPECT_FALSE(is_initiator_opcode(op)) << int(raw);
        EXPECT_FALSE(is_target_opcode(op)) << int(raw);
    }
    EXPECT_STREQ(opcode_name(static_cast<Opcode>(0x1c)), "unknown opcode");
}

TEST(Opcode, NamesFollowTheRfc) {
    EXPECT_STREQ(opcode_name(Opcode::scsi_command), "SCSI Command");
    EXPECT_STREQ(opcode_name(Opcode::r2t), "Ready To Transfer");
    EXPECT_STREQ(opcode_name(Opcode::reject), "Reject");
}

// RFC 3720 B.4: the SCSI Read (10) command PDU whose CRC the RFC gives.
constexpr std::string_view kReadCommand =
    "01 c0 00 00 00 00 00 00 00 00 00 00 00 00 00 00 14 00 00 00 00 00 04 00 00 00 00 14 00 00 00 18"
    "28 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00";

TEST(ScsiCommandView, ReadsRfc3720ReadCommandVector) {
    const Bhs bhs = bhs_from(kReadCommand);
    const ScsiCommandView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::scsi_command);
    EXPECT_FALSE(bhs.immediate());
    EXPECT_TRUE(bhs.final());
    EXPECT_TRUE(v.read());
    EXPECT_FALSE(v.write());
    EXPECT_EQ(v.attribute(), TaskAttribute::untagged);
    EXPECT_EQ(bhs.total_ahs_length(), 0);
    EXPECT_EQ(bhs.data_segment_length(), 0u);
    EXPECT_EQ(bhs.lun(), 0u);
    EXPECT_EQ(bhs.initiator_task_tag(), 0x14000000u);
    EXPECT_EQ(v.expected_data_transfer_length(), 1024u);
    EXPECT_EQ(v.cmd_sn(), 20u);
    EXPECT_EQ(v.exp_stat_sn(), 24u);
    EXPECT_EQ(v.cdb()[0], std::byte{0x28});
    EXPECT_EQ(v.cdb()[8], std::byte{0x02});
    EXPECT_EQ(v.cdb().size(), 16u);
}

TEST(ScsiCommandView, SettersBuildRfc3720ReadCommandVector) {
    Bhs bhs;
    ScsiCommandView v{bhs};
    bhs.set_opcode(Opcode::scsi_command);
    bhs.set_final(true);
    v.set_read(true);
    v.set_attribute(TaskAttribute::untagged);
    bhs.set_initiator_task_tag(0x14000000u);
    v.set_expected_data_transfer_length(1024);
    v.set_cmd_sn(20);
    v.set_exp_stat_sn(24);
    v.cdb_bytes()[0] = std::byte{0x28};
    v.cdb_bytes()[8] = std::byte{0x02};
    EXPECT_EQ(bhs, bhs_from(kReadCommand));
}

TEST(ScsiCommandView, WriteWithSimpleAttributeAndImmediate) {
    const Bhs bhs = bhs_from("41 a1 00 00 00 00 02 00 00 03 00 00 00 00 00 00");
    const ScsiCommandView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::scsi_command);
    EXPECT_TRUE(bhs.immediate());
    EXPECT_TRUE(v.write());
    EXPECT_FALSE(v.read());
    EXPECT_EQ(v.attribute(), TaskAttribute::simple);
    EXPECT_EQ(bhs.data_segment_length(), 512u);
    EXPECT_EQ(bhs.lun(), 0x0003000000000000u);
}

constexpr std::string_view kScsiResponse =
    "21 82 00 02 00 00 00 12 00 00 00 00 00 00 00 00 de ad be ef 00 00 00 00 00 00 00 07 00 00 00 08"
    "00 00 00 27 00 00 00 01 00 00 00 00 00 00 02 00";

TEST(ScsiResponseView, ReadsHandWrittenHeader) {
    const Bhs bhs = bhs_from(kScsiResponse);
    const ScsiResponseView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::scsi_response);
    EXPECT_TRUE(bhs.final());
    EXPECT_TRUE(v.underflow());
    EXPECT_FALSE(v.overflow());
    EXPECT_FALSE(v.bidi_overflow());
    EXPECT_FALSE(v.bidi_underflow());
    EXPECT_EQ(v.response(), 0);
    EXPECT_EQ(v.status(), 0x02);
    EXPECT_EQ(bhs.data_segment_length(), 0x12u);
    EXPECT_EQ(bhs.initiator_task_tag(), 0xdeadbeefu);
    EXPECT_EQ(v.snack_tag(), 0u);
    EXPECT_EQ(v.stat_sn(), 7u);
    EXPECT_EQ(v.exp_cmd_sn(), 8u);
    EXPECT_EQ(v.max_cmd_sn(), 0x27u);
    EXPECT_EQ(v.exp_data_sn(), 1u);
    EXPECT_EQ(v.bidi_residual_count(), 0u);
    EXPECT_EQ(v.residual_count(), 0x200u);
}

TEST(ScsiResponseView, SettersBuildHandWrittenHeader) {
    Bhs bhs;
    ScsiResponseView v{bhs};
    bhs.set_opcode(Opcode::scsi_response);
    bhs.set_final(true);
    v.set_underflow(true);
    v.set_status(0x02);
    bhs.set_data_segment_length(0x12);
    bhs.set_initiator_task_tag(0xdeadbeef);
    v.set_stat_sn(7);
    v.set_exp_cmd_sn(8);
    v.set_max_cmd_sn(0x27);
    v.set_exp_data_sn(1);
    v.set_residual_count(0x200);
    EXPECT_EQ(bhs, bhs_from(kScsiResponse));
}

constexpr std::string_view kDataIn =
    "25 81 00 00 00 00 20 00 00 01 00 00 00 00 00 00 00 00 00 2a ff ff ff ff 00 00 00 05 00 00 00 06"
    "00 00 00 45 00 00 00 03 00 00 60 00 00 00 00 00";

TEST(DataInView, ReadsHandWrittenHeader) {
    const Bhs bhs = bhs_from(kDataIn);
    const DataInView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::data_in);
    EXPECT_TRUE(bhs.final());
    EXPECT_TRUE(v.status_present());
    EXPECT_FALSE(v.acknowledge());
    EXPECT_FALSE(v.underflow());
    EXPECT_EQ(v.status(), 0);
    EXPECT_EQ(bhs.data_segment_length(), 0x2000u);
    EXPECT_EQ(bhs.lun(), 0x0001000000000000u);
    EXPECT_EQ(bhs.initiator_task_tag(), 0x2au);
    EXPECT_EQ(v.target_transfer_tag(), kReservedTag);
    EXPECT_EQ(v.stat_sn(), 5u);
    EXPECT_EQ(v.exp_cmd_sn(), 6u);
    EXPECT_EQ(v.max_cmd_sn(), 0x45u);
    EXPECT_EQ(v.data_sn(), 3u);
    EXPECT_EQ(v.buffer_offset(), 0x6000u);
    EXPECT_EQ(v.residual_count(), 0u);
}

TEST(DataInView, SettersBuildHandWrittenHeader) {
    Bhs bhs;
    DataInView v{bhs};
    bhs.set_opcode(Opcode::data_in);
    bhs.set_final(true);
    v.set_status_present(true);
    bhs.set_data_segment_length(0x2000);
    bhs.set_lun(0x0001000000000000u);
    bhs.set_initiator_task_tag(0x2a);
    v.set_target_transfer_tag(kReservedTag);
    v.set_stat_sn(5);
    v.set_exp_cmd_sn(6);
    v.set_max_cmd_sn(0x45);
    v.set_data_sn(3);
    v.set_buffer_offset(0x6000);
    EXPECT_EQ(bhs, bhs_from(kDataIn));
}

TEST(DataOutView, ReadsHandWrittenHeader) {
    const Bhs bhs = bhs_from(
        "05 80 00 00 00 00 10 00 00 00 00 00 00 00 00 00 00 00 00 11 00 00 07 77 00 00 00 00 00 00 00 09"
        "00 00 00 00 00 00 00 02 00 00 20 00 00 00 00 00");
    const DataOutView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::data_out);
    EXPECT_TRUE(bhs.final());
    EXPECT_EQ(bhs.data_segment_length(), 0x1000u);
    EXPECT_EQ(bhs.initiator_task_tag(), 0x11u);
    EXPECT_EQ(v.target_transfer_tag(), 0x777u);
    EXPECT_EQ(v.exp_stat_sn(), 9u);
    EXPECT_EQ(v.data_sn(), 2u);
    EXPECT_EQ(v.buffer_offset(), 0x2000u);
}

TEST(R2tView, ReadsHandWrittenHeader) {
    const Bhs bhs = bhs_from(
        "31 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 11 00 00 07 77 00 00 00 05 00 00 00 06"
        "00 00 00 45 00 00 00 01 00 01 00 00 00 04 00 00");
    const R2tView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::r2t);
    EXPECT_EQ(v.target_transfer_tag(), 0x777u);
    EXPECT_EQ(v.stat_sn(), 5u);
    EXPECT_EQ(v.exp_cmd_sn(), 6u);
    EXPECT_EQ(v.max_cmd_sn(), 0x45u);
    EXPECT_EQ(v.r2t_sn(), 1u);
    EXPECT_EQ(v.buffer_offset(), 0x10000u);
    EXPECT_EQ(v.desired_data_transfer_length(), 0x40000u);
}

TEST(LoginRequestView, ReadsHandWrittenHeader) {
    const Bhs bhs = bhs_from("43 87 00 00 00 00 00 a0 80 12 34 56 78 9a 00 00 00 00 00 00 00 01 00 00 00 00 00 01");
    const LoginRequestView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::login_request);
    EXPECT_TRUE(bhs.immediate());
    EXPECT_TRUE(v.transit());
    EXPECT_FALSE(v.continue_());
    EXPECT_EQ(v.current_stage(), LoginStage::operational);
    EXPECT_EQ(v.next_stage(), LoginStage::full_feature);
    EXPECT_EQ(v.version_max(), 0);
    EXPECT_EQ(v.version_min(), 0);
    EXPECT_EQ(bhs.data_segment_length(), 0xa0u);
    EXPECT_EQ(v.isid(), 0x80123456789au);
    EXPECT_EQ(v.tsih(), 0);
    EXPECT_EQ(v.cid(), 1);
    EXPECT_EQ(v.cmd_sn(), 1u);
    EXPECT_EQ(v.exp_stat_sn(), 0u);
}

constexpr std::string_view kLoginResponse =
    "23 87 00 00 00 00 00 40 80 12 34 56 78 9a 00 05 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 01"
    "00 00 00 40 02 01";

TEST(LoginResponseView, ReadsHandWrittenHeader) {
    const Bhs bhs = bhs_from(kLoginResponse);
    const LoginResponseView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::login_response);
    EXPECT_TRUE(v.transit());
    EXPECT_EQ(v.current_stage(), LoginStage::operational);
    EXPECT_EQ(v.next_stage(), LoginStage::full_feature);
    EXPECT_EQ(v.isid(), 0x80123456789au);
    EXPECT_EQ(v.tsih(), 5);
    EXPECT_EQ(v.stat_sn(), 1u);
    EXPECT_EQ(v.exp_cmd_sn(), 1u);
    EXPECT_EQ(v.max_cmd_sn(), 0x40u);
    EXPECT_EQ(v.status(), LoginStatus::authentication_failure);
}

TEST(LoginResponseView, SettersBuildHandWrittenHeader) {
    Bhs bhs;
    LoginResponseView v{bhs};
    bhs.set_opcode(Opcode::login_response);
    v.set_transit(true);
    v.set_stages(LoginStage::operational, LoginStage::full_feature);
    bhs.set_data_segment_length(0x40);
    v.set_isid(0x80123456789au);
    v.set_tsih(5);
    v.set_stat_sn(1);
    v.set_exp_cmd_sn(1);
    v.set_max_cmd_sn(0x40);
    v.set_status(LoginStatus::authentication_failure);
    EXPECT_EQ(bhs, bhs_from(kLoginResponse));
}

TEST(LoginResponseView, SetStagesKeepsTransitAndContinueBits) {
    Bhs bhs;
    LoginResponseView v{bhs};
    v.set_transit(true);
    v.set_continue_(true);
    v.set_stages(LoginStage::security, LoginStage::operational);
    EXPECT_EQ(bhs.u8(1), 0xc1);
    v.set_stages(LoginStage::operational, LoginStage::full_feature);
    EXPECT_EQ(bhs.u8(1), 0xc7);
}

TEST(TextViews, ReadHandWrittenHeaders) {
    const Bhs req =
        bhs_from("04 80 00 00 00 00 00 10 00 00 00 00 00 00 00 00 00 00 00 03 ff ff ff ff 00 00 00 20 00 00 00 21");
    const TextRequestView rv{req};
    EXPECT_EQ(req.opcode(), Opcode::text_request);
    EXPECT_TRUE(req.final());
    EXPECT_FALSE(rv.continue_());
    EXPECT_EQ(req.data_segment_length(), 0x10u);
    EXPECT_EQ(rv.target_transfer_tag(), kReservedTag);
    EXPECT_EQ(rv.cmd_sn(), 0x20u);
    EXPECT_EQ(rv.exp_stat_sn(), 0x21u);

    const Bhs rsp = bhs_from(
        "24 40 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 03 00 00 00 05 00 00 00 21 00 00 00 21"
        "00 00 00 60");
    const TextResponseView sv{rsp};
    EXPECT_EQ(rsp.opcode(), Opcode::text_response);
    EXPECT_FALSE(rsp.final());
    EXPECT_TRUE(sv.continue_());
    EXPECT_EQ(sv.target_transfer_tag(), 5u);
    EXPECT_EQ(sv.stat_sn(), 0x21u);
    EXPECT_EQ(sv.exp_cmd_sn(), 0x21u);
    EXPECT_EQ(sv.max_cmd_sn(), 0x60u);
}

TEST(LogoutViews, ReadHandWrittenHeaders) {
    const Bhs req =
        bhs_from("46 81 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 09 00 02 00 00 00 00 00 30 00 00 00 31");
    const LogoutRequestView rv{req};
    EXPECT_EQ(req.opcode(), Opcode::logout_request);
    EXPECT_TRUE(req.immediate());
    EXPECT_EQ(rv.reason(), LogoutReason::close_connection);
    EXPECT_EQ(rv.cid(), 2);
    EXPECT_EQ(rv.cmd_sn(), 0x30u);
    EXPECT_EQ(rv.exp_stat_sn(), 0x31u);

    const Bhs rsp = bhs_from(
        "26 80 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 09 00 00 00 00 00 00 00 31 00 00 00 31"
        "00 00 00 70 00 00 00 00 00 02 00 14");
    const LogoutResponseView sv{rsp};
    EXPECT_EQ(rsp.opcode(), Opcode::logout_response);
    EXPECT_EQ(sv.response(), static_cast<std::uint8_t>(LogoutResponse::recovery_not_supported));
    EXPECT_EQ(sv.stat_sn(), 0x31u);
    EXPECT_EQ(sv.max_cmd_sn(), 0x70u);
    EXPECT_EQ(sv.time2wait(), 2);
    EXPECT_EQ(sv.time2retain(), 20);
}

TEST(LogoutRequestView, SetReasonSetsTheAlwaysOneBit) {
    Bhs bhs;
    LogoutRequestView v{bhs};
    v.set_reason(LogoutReason::close_session);
    EXPECT_EQ(bhs.u8(1), 0x80);  // §11.14: byte 1 bit 7 is 1
}

TEST(NopViews, ReadHandWrittenHeaders) {
    const Bhs out =
        bhs_from("40 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 12 ff ff ff ff 00 00 00 40 00 00 00 41");
    const NopOutView ov{out};
    EXPECT_EQ(out.opcode(), Opcode::nop_out);
    EXPECT_TRUE(out.immediate());
    EXPECT_EQ(out.initiator_task_tag(), 0x12u);
    EXPECT_EQ(ov.target_transfer_tag(), kReservedTag);
    EXPECT_EQ(ov.cmd_sn(), 0x40u);
    EXPECT_EQ(ov.exp_stat_sn(), 0x41u);

    const Bhs in = bhs_from(
        "20 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff ff ff ff 00 00 00 99 00 00 00 41 00 00 00 41"
        "00 00 00 80");
    const NopInView iv{in};
    EXPECT_EQ(in.opcode(), Opcode::nop_in);
    EXPECT_EQ(in.initiator_task_tag(), kReservedTag);
    EXPECT_EQ(iv.target_transfer_tag(), 0x99u);
    EXPECT_EQ(iv.stat_sn(), 0x41u);
    EXPECT_EQ(iv.exp_cmd_sn(), 0x41u);
    EXPECT_EQ(iv.max_cmd_sn(), 0x80u);
}

TEST(TaskManagementViews, ReadHandWrittenHeaders) {
    const Bhs req = bhs_from(
        "42 81 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 00 00 50 00 00 00 11 00 00 00 51 00 00 00 52"
        "00 00 00 10 00 00 00 00");
    const TaskManagementRequestView rv{req};
    EXPECT_EQ(req.opcode(), Opcode::task_management_request);
    EXPECT_EQ(rv.function(), TaskFunction::abort_task);
    EXPECT_EQ(req.lun(), 0x0002000000000000u);
    EXPECT_EQ(rv.referenced_task_tag(), 0x11u);
    EXPECT_EQ(rv.cmd_sn(), 0x51u);
    EXPECT_EQ(rv.exp_stat_sn(), 0x52u);
    EXPECT_EQ(rv.ref_cmd_sn(), 0x10u);
    EXPECT_EQ(rv.exp_data_sn(), 0u);

    const Bhs rsp = bhs_from(
        "22 80 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 50 00 00 00 00 00 00 00 52 00 00 00 52"
        "00 00 00 91");
    const TaskManagementResponseView sv{rsp};
    EXPECT_EQ(rsp.opcode(), Opcode::task_management_response);
    EXPECT_EQ(sv.response(), static_cast<std::uint8_t>(TaskResponse::task_does_not_exist));
    EXPECT_EQ(sv.stat_sn(), 0x52u);
    EXPECT_EQ(sv.max_cmd_sn(), 0x91u);
}

TEST(RejectView, ReadsHandWrittenHeader) {
    const Bhs bhs = bhs_from(
        "3f 80 09 00 00 00 00 30 00 00 00 00 00 00 00 00 ff ff ff ff 00 00 00 00 00 00 00 60 00 00 00 61"
        "00 00 00 62");
    const RejectView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::reject);
    EXPECT_EQ(v.reason(), RejectReason::invalid_pdu_field);
    EXPECT_EQ(bhs.data_segment_length(), 48u);  // §11.17: the rejected PDU's header
    EXPECT_EQ(v.stat_sn(), 0x60u);
    EXPECT_EQ(v.exp_cmd_sn(), 0x61u);
    EXPECT_EQ(v.max_cmd_sn(), 0x62u);
    EXPECT_EQ(v.data_sn(), 0u);
}

TEST(AsyncMessageView, ReadsHandWrittenHeader) {
    const Bhs bhs = bhs_from(
        "32 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff ff ff ff 00 00 00 00 00 00 00 70 00 00 00 71"
        "00 00 00 72 01 00 00 00 00 02 00 14");
    const AsyncMessageView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::async_message);
    EXPECT_EQ(v.stat_sn(), 0x70u);
    EXPECT_EQ(v.exp_cmd_sn(), 0x71u);
    EXPECT_EQ(v.max_cmd_sn(), 0x72u);
    EXPECT_EQ(v.async_event(), iscsi::AsyncEvent::logout_requested);  // §11.9.1
    EXPECT_EQ(v.async_vcode(), 0);
    EXPECT_EQ(v.parameter1(), 0);
    EXPECT_EQ(v.parameter2(), 2);
    EXPECT_EQ(v.parameter3(), 20);
}

TEST(SnackRequestView, ReadsHandWrittenHeader) {
    const Bhs bhs = bhs_from(
        "10 81 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 03 ff ff ff ff 00 00 00 00 00 00 00 05"
        "00 00 00 00 00 00 00 00 00 00 00 02 00 00 00 03");
    const SnackRequestView v{bhs};
    EXPECT_EQ(bhs.opcode(), Opcode::snack_request);
    EXPECT_EQ(v.type(), 1);  // §11.16.1: Status SNACK
    EXPECT_EQ(v.target_transfer_tag(), kReservedTag);
    EXPECT_EQ(v.exp_stat_sn(), 5u);
    EXPECT_EQ(v.beg_run(), 2u);
    EXPECT_EQ(v.run_length(), 3u);
}

TEST(Bhs, OpcodeAndImmediateBitsAreIndependent) {
    Bhs bhs;
    bhs.set_immediate(true);
    bhs.set_opcode(Opcode::nop_out);
    EXPECT_EQ(bhs.u8(0), 0x40);
    bhs.set_opcode(Opcode::task_management_request);
    EXPECT_EQ(bhs.u8(0), 0x42);
    EXPECT_TRUE(bhs.immediate());
    bhs.set_immediate(false);
    EXPECT_EQ(bhs.opcode(), Opcode::task_management_request);
    EXPECT_EQ(bhs.u8(0), 0x02);
}

TEST(Bhs, DataSegmentLengthIsTwentyFourBitsBigEndian) {
    Bhs bhs;
    bhs.set_total_ahs_length(0xab);
    bhs.set_data_segment_length(0xffffff);
    EXPECT_EQ(bhs.u8(4), 0xab);
    EXPECT_EQ(bhs.u8(5), 0xff);
    EXPECT_EQ(bhs.u8(7), 0xff);
    bhs.set_data_segment_length(0x010203);
    EXPECT_EQ(bhs.u8(5), 0x01);
    EXPECT_EQ(bhs.u8(6), 0x02);
    EXPECT_EQ(bhs.u8(7), 0x03);
    EXPECT_EQ(bhs.total_ahs_length(), 0xab);
    EXPECT_EQ(bhs.data_segment_length(), 0x010203u);
}

}  // namespace
}  // namespace iscsikit::iscsi
