// Names of the initiator's error kinds, as the enumerators spell them (logs, JSON output).
#include "initiator/error.hpp"

namespace iscsikit::initiator {

const char* error_kind_name(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid_argument: return "invalid_argument";
        case ErrorKind::unreachable: return "unreachable";
        case ErrorKind::target_not_found: return "target_not_found";
        case ErrorKind::auth_failed: return "auth_failed";
        case ErrorKind::login_failed: return "login_failed";
        case ErrorKind::no_such_lun: return "no_such_lun";
        case ErrorKind::scsi_error: return "scsi_error";
        case ErrorKind::timeout: return "timeout";
        case ErrorKind::connection_lost: return "connection_lost";
        case ErrorKind::protocol_error: return "protocol_error";
        case ErrorKind::closed: return "closed";
    }
    return "unknown";
}

}  // namespace iscsikit::initiator
