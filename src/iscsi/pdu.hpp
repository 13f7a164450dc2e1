// iSCSI PDUs (RFC 7143 §11): the 48-byte Basic Header Segment as an explicit codec with named
// accessors per opcode, and a whole PDU (BHS, AHS, data segment) as the reactor moves it.
// Field offsets follow the RFC's figures; each accessor names the field the RFC names.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/bytes.hpp"

namespace iscsikit::iscsi {

inline constexpr std::size_t kBhsLength = 48;
inline constexpr std::size_t kDigestLength = 4;
inline constexpr std::uint32_t kReservedTag = 0xffffffffu;  // RFC 7143 §11.2.1.8

// RFC 7143 §11.2.1.2
enum class Opcode : std::uint8_t {
    nop_out = 0x00,
    scsi_command = 0x01,
    task_management_request = 0x02,
    login_request = 0x03,
    text_request = 0x04,
    data_out = 0x05,
    logout_request = 0x06,
    snack_request = 0x10,
    nop_in = 0x20,
    scsi_response = 0x21,
    task_management_response = 0x22,
    login_response = 0x23,
    text_response = 0x24,
    data_in = 0x25,
    logout_response = 0x26,
    r2t = 0x31,
    async_message = 0x32,
    reject = 0x3f,
};

bool is_initiator_opcode(Opcode op);
bool is_target_opcode(Opcode op);
const char* opcode_name(Opcode op);

// The Basic Header Segment. Generic field access by offset plus the fields every PDU shares;
// per-opcode views below name the rest.
class Bhs {
public:
    Bhs() { bytes_.fill(std::byte{0}); }
    explicit Bhs(ConstByteSpan raw) {  // raw.size() must be >= 48
        for (std::size_t i = 0; i < kBhsLength; ++i) bytes_[i] = raw[i];
    }

    std::byte* data() { return bytes_.data(); }
    const std::byte* data() const { return bytes_.data(); }
    ConstByteSpan span() const { return {bytes_.data(), kBhsLength}; }

    std::uint8_t u8(std::size_t off) const { return load_u8(bytes_.data() + off); }
    std::uint16_t u16(std::size_t off) const { return load_be16(bytes_.data() + off); }
    std::uint32_t u32(std::size_t off) const { return load_be32(bytes_.data() + off); }
    std::uint64_t u64(std::size_t off) const { return load_be64(bytes_.data() + off); }
    void set_u8(std::size_t off, std::uint8_t v) { store_u8(bytes_.data() + off, v); }
    void set_u16(std::size_t off, std::uint16_t v) { store_be16(bytes_.data() + off, v); }
    void set_u32(std::size_t off, std::uint32_t v) { store_be32(bytes_.data() + off, v); }
    void set_u64(std::size_t off, std::uint64_t v) { store_be64(bytes_.data() + off, v); }
    bool bit(std::size_t off, std::uint8_t mask) const { return (u8(off) & mask) != 0; }
    void set_bit(std::size_t off, std::uint8_t mask, bool on) {
        set_u8(off, static_cast<std::uint8_t>(on ? (u8(off) | mask) : (u8(off) & ~mask)));
    }

    // Byte 0: reserved bit, I bit, opcode (§11.2.1).
    Opcode opcode() const { return static_cast<Opcode>(u8(0) & 0x3f); }
    void set_opcode(Opcode op) { set_u8(0, static_cast<std::uint8_t>((u8(0) & 0x40) | static_cast<std::uint8_t>(op))); }
    bool immediate() const { return bit(0, 0x40); }
    void set_immediate(bool on) { set_bit(0, 0x40, on); }
    bool final() const { return bit(1, 0x80); }
    void set_final(bool on) { set_bit(1, 0x80, on); }
    std::uint8_t total_ahs_length() const { return u8(4); }  // in 4-byte words
    void set_total_ahs_length(std::uint8_t words) { set_u8(4, words); }
    std::uint32_t data_segment_length() const { return load_be24(bytes_.data() + 5); }
    void set_data_segment_length(std::uint32_t n) { store_be24(bytes_.data() + 5, n); }
    std::uint64_t lun() const { return u64(8); }
    void set_lun(std::uint64_t lun) { set_u64(8, lun); }
    std::uint32_t initiator_task_tag() const { return u32(16); }
    void set_initiator_task_tag(std::uint32_t itt) { set_u32(16, itt); }

    friend bool operator==(const Bhs& a, const Bhs& b) { return a.bytes_ == b.bytes_; }

private:
    std::array<std::byte, kBhsLength> bytes_;
};

// A view names one opcode's fields over a BHS it does not own. Views of a const Bhs are read-only
// by construction: the setters are templates that only instantiate on a mutable Bhs.
template <class B>
class BhsView {
public:
    explicit BhsView(B& bhs) : bhs_(bhs) {}
    B& bhs() const { return bhs_; }

protected:
    B& bhs_;
};

#define ISCSIKIT_U32_FIELD(name, off)                          \
    std::uint32_t name() const { return this->bhs_.u32(off); } \
    void set_##name(std::uint32_t v) const { this->bhs_.set_u32(off, v); }
#define ISCSIKIT_U16_FIELD(name, off)                          \
    std::uint16_t name() const { return this->bhs_.u16(off); } \
    void set_##name(std::uint16_t v) const { this->bhs_.set_u16(off, v); }
#define ISCSIKIT_U8_FIELD(name, off)                         \
    std::uint8_t name() const { return this->bhs_.u8(off); } \
    void set_##name(std::uint8_t v) const { this->bhs_.set_u8(off, v); }
#define ISCSIKIT_FLAG(name, off, mask)                      \
    bool name() const { return this->bhs_.bit(off, mask); } \
    void set_##name(bool on) const { this->bhs_.set_bit(off, mask, on); }

// The sequence numbers every PDU of one direction carries at the same place, for code that
// orders or stamps PDUs whatever their opcode:
// - an initiator request's CmdSN and ExpStatSN (§11.3-§11.18; Data-Out and SNACK have none);
// - a target PDU's StatSN, ExpCmdSN and MaxCmdSN (§11.4-§11.19; §4.2.2.2, §4.2.2.1).
template <class B>
struct RequestSequenceView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_U32_FIELD(cmd_sn, 24)
    ISCSIKIT_U32_FIELD(exp_stat_sn, 28)
};
template <class B>
struct TargetSequenceView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
};

// SCSI task attributes (RFC 7143 §11.3.1.1, SAM).
enum class TaskAttribute : std::uint8_t { untagged = 0, simple = 1, ordered = 2, head_of_queue = 3, aca = 4 };

// §11.3 SCSI Command
template <class B>
struct ScsiCommandView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_FLAG(read, 1, 0x40)
    ISCSIKIT_FLAG(write, 1, 0x20)
    TaskAttribute attribute() const { return static_cast<TaskAttribute>(this->bhs_.u8(1) & 0x07); }
    void set_attribute(TaskAttribute a) const {
        this->bhs_.set_u8(1, static_cast<std::uint8_t>((this->bhs_.u8(1) & ~0x07) | static_cast<std::uint8_t>(a)));
    }
    ISCSIKIT_U32_FIELD(expected_data_transfer_length, 20)
    ISCSIKIT_U32_FIELD(cmd_sn, 24)
    ISCSIKIT_U32_FIELD(exp_stat_sn, 28)
    ConstByteSpan cdb() const { return {this->bhs_.data() + 32, 16}; }
    std::byte* cdb_bytes() const { return this->bhs_.data() + 32; }
};

// §11.4 SCSI Response
template <class B>
struct ScsiResponseView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_FLAG(bidi_overflow, 1, 0x10)
    ISCSIKIT_FLAG(bidi_underflow, 1, 0x08)
    ISCSIKIT_FLAG(overflow, 1, 0x04)
    ISCSIKIT_FLAG(underflow, 1, 0x02)
    ISCSIKIT_U8_FIELD(response, 2)
    ISCSIKIT_U8_FIELD(status, 3)
    ISCSIKIT_U32_FIELD(snack_tag, 20)
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
    ISCSIKIT_U32_FIELD(exp_data_sn, 36)
    ISCSIKIT_U32_FIELD(bidi_residual_count, 40)
    ISCSIKIT_U32_FIELD(residual_count, 44)
};

// §11.5 Task Management Function Request
enum class TaskFunction : std::uint8_t {
    abort_task = 1,
    abort_task_set = 2,
    clear_aca = 3,
    clear_task_set = 4,
    logical_unit_reset = 5,
    target_warm_reset = 6,
    target_cold_reset = 7,
    task_reassign = 8,
};
// §11.6.1
enum class TaskResponse : std::uint8_t {
    complete = 0,
    task_does_not_exist = 1,
    lun_does_not_exist = 2,
    task_still_allegiant = 3,
    task_reassignment_unsupported = 4,
    function_unsupported = 5,
    authorization_failed = 6,
    rejected = 255,
};

template <class B>
struct TaskManagementRequestView : BhsView<B> {
    using BhsView<B>::BhsView;
    TaskFunction function() const { return static_cast<TaskFunction>(this->bhs_.u8(1) & 0x7f); }
    void set_function(TaskFunction f) const {
        this->bhs_.set_u8(1, static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(f)));
    }
    ISCSIKIT_U32_FIELD(referenced_task_tag, 20)
    ISCSIKIT_U32_FIELD(cmd_sn, 24)
    ISCSIKIT_U32_FIELD(exp_stat_sn, 28)
    ISCSIKIT_U32_FIELD(ref_cmd_sn, 32)
    ISCSIKIT_U32_FIELD(exp_data_sn, 36)
};

template <class B>
struct TaskManagementResponseView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_U8_FIELD(response, 2)
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
};

// §11.7 Data-Out and §11.8 Data-In
template <class B>
struct DataOutView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_U32_FIELD(target_transfer_tag, 20)
    ISCSIKIT_U32_FIELD(exp_stat_sn, 28)
    ISCSIKIT_U32_FIELD(data_sn, 36)
    ISCSIKIT_U32_FIELD(buffer_offset, 40)
};

template <class B>
struct DataInView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_FLAG(acknowledge, 1, 0x40)
    ISCSIKIT_FLAG(overflow, 1, 0x04)
    ISCSIKIT_FLAG(underflow, 1, 0x02)
    ISCSIKIT_FLAG(status_present, 1, 0x01)
    ISCSIKIT_U8_FIELD(status, 3)
    ISCSIKIT_U32_FIELD(target_transfer_tag, 20)
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
    ISCSIKIT_U32_FIELD(data_sn, 36)
    ISCSIKIT_U32_FIELD(buffer_offset, 40)
    ISCSIKIT_U32_FIELD(residual_count, 44)
};

// §11.8 Ready To Transfer
template <class B>
struct R2tView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_U32_FIELD(target_transfer_tag, 20)
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
    ISCSIKIT_U32_FIELD(r2t_sn, 36)
    ISCSIKIT_U32_FIELD(buffer_offset, 40)
    ISCSIKIT_U32_FIELD(desired_data_transfer_length, 44)
};

// §11.9 Asynchronous Message; §11.9.1 AsyncEvent codes (5-254 reserved, 255 vendor-specific).
enum class AsyncEvent : std::uint8_t {
    scsi_event = 0,           // sense data in the data segment
    logout_requested = 1,     // the target asks the initiator to log out (Parameter3: seconds)
    dropping_connection = 2,  // the target will drop the connection named by Parameter1
    dropping_all_connections = 3,
    renegotiation_requested = 4,  // the target asks for a Text negotiation
    vendor_specific = 255,
};

// §11.9 Asynchronous Message
template <class B>
struct AsyncMessageView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
    AsyncEvent async_event() const { return static_cast<AsyncEvent>(this->bhs_.u8(36)); }
    void set_async_event(AsyncEvent e) const { this->bhs_.set_u8(36, static_cast<std::uint8_t>(e)); }
    ISCSIKIT_U8_FIELD(async_vcode, 37)
    ISCSIKIT_U16_FIELD(parameter1, 38)
    ISCSIKIT_U16_FIELD(parameter2, 40)
    ISCSIKIT_U16_FIELD(parameter3, 42)
};

// §11.10 Text Request / §11.11 Text Response
template <class B>
struct TextRequestView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_FLAG(continue_, 1, 0x40)
    ISCSIKIT_U32_FIELD(target_transfer_tag, 20)
    ISCSIKIT_U32_FIELD(cmd_sn, 24)
    ISCSIKIT_U32_FIELD(exp_stat_sn, 28)
};

template <class B>
struct TextResponseView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_FLAG(continue_, 1, 0x40)
    ISCSIKIT_U32_FIELD(target_transfer_tag, 20)
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
};

// §11.12 Login Request / §11.13 Login Response
enum class LoginStage : std::uint8_t { security = 0, operational = 1, full_feature = 3 };

template <class B>
struct LoginRequestView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_FLAG(transit, 1, 0x80)
    ISCSIKIT_FLAG(continue_, 1, 0x40)
    LoginStage current_stage() const { return static_cast<LoginStage>((this->bhs_.u8(1) >> 2) & 0x03); }
    LoginStage next_stage() const { return static_cast<LoginStage>(this->bhs_.u8(1) & 0x03); }
    void set_stages(LoginStage csg, LoginStage nsg) const {
        this->bhs_.set_u8(1,
                          static_cast<std::uint8_t>((this->bhs_.u8(1) & 0xc0) | (static_cast<std::uint8_t>(csg) << 2) |
                                                    static_cast<std::uint8_t>(nsg)));
    }
    ISCSIKIT_U8_FIELD(version_max, 2)
    ISCSIKIT_U8_FIELD(version_min, 3)
    std::uint64_t isid() const { return load_be48(this->bhs_.data() + 8); }
    void set_isid(std::uint64_t v) const { store_be48(this->bhs_.data() + 8, v); }
    ISCSIKIT_U16_FIELD(tsih, 14)
    ISCSIKIT_U16_FIELD(cid, 20)
    ISCSIKIT_U32_FIELD(cmd_sn, 24)
    ISCSIKIT_U32_FIELD(exp_stat_sn, 28)
};

// §11.13.5 Status-Class and Status-Detail
enum class LoginStatus : std::uint16_t {
    success = 0x0000,
    target_moved_temporarily = 0x0101,
    target_moved_permanently = 0x0102,
    initiator_error = 0x0200,
    authentication_failure = 0x0201,
    authorization_failure = 0x0202,
    not_found = 0x0203,
    target_removed = 0x0204,
    unsupported_version = 0x0205,
    too_many_connections = 0x0206,
    missing_parameter = 0x0207,
    cant_include_in_session = 0x0208,
    session_type_not_supported = 0x0209,
    session_does_not_exist = 0x020a,
    invalid_during_login = 0x020b,
    target_error = 0x0300,
    service_unavailable = 0x0301,
    out_of_resources = 0x0302,
};

template <class B>
struct LoginResponseView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_FLAG(transit, 1, 0x80)
    ISCSIKIT_FLAG(continue_, 1, 0x40)
    LoginStage current_stage() const { return static_cast<LoginStage>((this->bhs_.u8(1) >> 2) & 0x03); }
    LoginStage next_stage() const { return static_cast<LoginStage>(this->bhs_.u8(1) & 0x03); }
    void set_stages(LoginStage csg, LoginStage nsg) const {
        this->bhs_.set_u8(1,
                          static_cast<std::uint8_t>((this->bhs_.u8(1) & 0xc0) | (static_cast<std::uint8_t>(csg) << 2) |
                                                    static_cast<std::uint8_t>(nsg)));
    }
    ISCSIKIT_U8_FIELD(version_max, 2)
    ISCSIKIT_U8_FIELD(version_active, 3)
    std::uint64_t isid() const { return load_be48(this->bhs_.data() + 8); }
    void set_isid(std::uint64_t v) const { store_be48(this->bhs_.data() + 8, v); }
    ISCSIKIT_U16_FIELD(tsih, 14)
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
    LoginStatus status() const { return static_cast<LoginStatus>(this->bhs_.u16(36)); }
    void set_status(LoginStatus s) const { this->bhs_.set_u16(36, static_cast<std::uint16_t>(s)); }
};

// §11.14 Logout Request / §11.15 Logout Response
enum class LogoutReason : std::uint8_t { close_session = 0, close_connection = 1, remove_connection_for_recovery = 2 };
enum class LogoutResponse : std::uint8_t {
    success = 0,
    cid_not_found = 1,
    recovery_not_supported = 2,
    cleanup_failed = 3
};

template <class B>
struct LogoutRequestView : BhsView<B> {
    using BhsView<B>::BhsView;
    LogoutReason reason() const { return static_cast<LogoutReason>(this->bhs_.u8(1) & 0x7f); }
    void set_reason(LogoutReason r) const {
        this->bhs_.set_u8(1, static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(r)));
    }
    ISCSIKIT_U16_FIELD(cid, 20)
    ISCSIKIT_U32_FIELD(cmd_sn, 24)
    ISCSIKIT_U32_FIELD(exp_stat_sn, 28)
};

template <class B>
struct LogoutResponseView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_U8_FIELD(response, 2)
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
    ISCSIKIT_U16_FIELD(time2wait, 40)
    ISCSIKIT_U16_FIELD(time2retain, 42)
};

// §11.16 SNACK Request
template <class B>
struct SnackRequestView : BhsView<B> {
    using BhsView<B>::BhsView;
    std::uint8_t type() const { return this->bhs_.u8(1) & 0x0f; }
    ISCSIKIT_U32_FIELD(target_transfer_tag, 20)
    ISCSIKIT_U32_FIELD(exp_stat_sn, 28)
    ISCSIKIT_U32_FIELD(beg_run, 40)
    ISCSIKIT_U32_FIELD(run_length, 44)
};

// §11.17 Reject
enum class RejectReason : std::uint8_t {
    data_digest_error = 0x02,
    snack_reject = 0x03,
    protocol_error = 0x04,
    command_not_supported = 0x05,
    immediate_command_rejected = 0x06,
    task_in_progress = 0x07,
    invalid_data_ack = 0x08,
    invalid_pdu_field = 0x09,
    long_operation_reject = 0x0a,
    waiting_for_logout = 0x0c,
};

template <class B>
struct RejectView : BhsView<B> {
    using BhsView<B>::BhsView;
    RejectReason reason() const { return static_cast<RejectReason>(this->bhs_.u8(2)); }
    void set_reason(RejectReason r) const { this->bhs_.set_u8(2, static_cast<std::uint8_t>(r)); }
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
    ISCSIKIT_U32_FIELD(data_sn, 36)
};

// §11.18 NOP-Out / §11.19 NOP-In
template <class B>
struct NopOutView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_U32_FIELD(target_transfer_tag, 20)
    ISCSIKIT_U32_FIELD(cmd_sn, 24)
    ISCSIKIT_U32_FIELD(exp_stat_sn, 28)
};

template <class B>
struct NopInView : BhsView<B> {
    using BhsView<B>::BhsView;
    ISCSIKIT_U32_FIELD(target_transfer_tag, 20)
    ISCSIKIT_U32_FIELD(stat_sn, 24)
    ISCSIKIT_U32_FIELD(exp_cmd_sn, 28)
    ISCSIKIT_U32_FIELD(max_cmd_sn, 32)
};

#undef ISCSIKIT_U32_FIELD
#undef ISCSIKIT_U16_FIELD
#undef ISCSIKIT_U8_FIELD
#undef ISCSIKIT_FLAG

// Deduction guides so `ScsiCommandView v{bhs}` picks const or mutable from the argument.
template <class B>
RequestSequenceView(B&) -> RequestSequenceView<B>;
template <class B>
TargetSequenceView(B&) -> TargetSequenceView<B>;
template <class B>
ScsiCommandView(B&) -> ScsiCommandView<B>;
template <class B>
ScsiResponseView(B&) -> ScsiResponseView<B>;
template <class B>
TaskManagementRequestView(B&) -> TaskManagementRequestView<B>;
template <class B>
TaskManagementResponseView(B&) -> TaskManagementResponseView<B>;
template <class B>
DataOutView(B&) -> DataOutView<B>;
template <class B>
DataInView(B&) -> DataInView<B>;
template <class B>
R2tView(B&) -> R2tView<B>;
template <class B>
AsyncMessageView(B&) -> AsyncMessageView<B>;
template <class B>
TextRequestView(B&) -> TextRequestView<B>;
template <class B>
TextResponseView(B&) -> TextResponseView<B>;
template <class B>
LoginRequestView(B&) -> LoginRequestView<B>;
template <class B>
LoginResponseView(B&) -> LoginResponseView<B>;
template <class B>
LogoutRequestView(B&) -> LogoutRequestView<B>;
template <class B>
LogoutResponseView(B&) -> LogoutResponseView<B>;
template <class B>
SnackRequestView(B&) -> SnackRequestView<B>;
template <class B>
RejectView(B&) -> RejectView<B>;
template <class B>
NopOutView(B&) -> NopOutView<B>;
template <class B>
NopInView(B&) -> NopInView<B>;

// A whole PDU as received or about to be sent: header, additional header segments and the data
// segment without its padding. Digests are computed at framing time, not stored.
struct Pdu {
    Bhs bhs;
    std::vector<std::byte> ahs;   // TotalAHSLength * 4 bytes
    std::vector<std::byte> data;  // DataSegmentLength bytes, unpadded
};

}  // namespace iscsikit::iscsi
