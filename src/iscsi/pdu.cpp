#include "iscsi/pdu.hpp"

namespace iscsikit::iscsi {

// RFC 7143 §11.2.1.2: 0x00-0x1f are initiator opcodes, 0x20-0x3f target opcodes. Only the opcodes
// the RFC defines count; vendor-specific codes (0x1c-0x1e, 0x3c-0x3e) are not ours to accept.
bool is_initiator_opcode(Opcode op) {
    switch (op) {
        case Opcode::nop_out:
        case Opcode::scsi_command:
        case Opcode::task_management_request:
        case Opcode::login_request:
        case Opcode::text_request:
        case Opcode::data_out:
        case Opcode::logout_request:
        case Opcode::snack_request: return true;
        default: return false;
    }
}

bool is_target_opcode(Opcode op) {
    switch (op) {
        case Opcode::nop_in:
        case Opcode::scsi_response:
        case Opcode::task_management_response:
        case Opcode::login_response:
        case Opcode::text_response:
        case Opcode::data_in:
        case Opcode::logout_response:
        case Opcode::r2t:
        case Opcode::async_message:
        case Opcode::reject: return true;
        default: return false;
    }
}

const char* opcode_name(Opcode op) {
    switch (op) {
        case Opcode::nop_out: return "NOP-Out";
        case Opcode::scsi_command: return "SCSI Command";
        case Opcode::task_management_request: return "Task Management Function Request";
        case Opcode::login_request: return "Login Request";
        case Opcode::text_request: return "Text Request";
        case Opcode::data_out: return "SCSI Data-Out";
        case Opcode::logout_request: return "Logout Request";
        case Opcode::snack_request: return "SNACK Request";
        case Opcode::nop_in: return "NOP-In";
        case Opcode::scsi_response: return "SCSI Response";
        case Opcode::task_management_response: return "Task Management Function Response";
        case Opcode::login_response: return "Login Response";
        case Opcode::text_response: return "Text Response";
        case Opcode::data_in: return "SCSI Data-In";
        case Opcode::logout_response: return "Logout Response";
        case Opcode::r2t: return "Ready To Transfer";
        case Opcode::async_message: return "Asynchronous Message";
        case Opcode::reject: return "Reject";
    }
    return "unknown opcode";
}

}  // namespace iscsikit::iscsi
