// What can go wrong for an initiator's caller, as values (STYLE.md rule 6). Every message is one
// line a person can read ("connection to 10.0.0.5:3260 refused", "LBA out of range").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "scsi/sense.hpp"

namespace iscsikit::initiator {

enum class ErrorKind : std::uint8_t {
    invalid_argument,  // a bad URL, a buffer that does not match the CDB, a LUN out of range
    unreachable,       // no TCP connection within the login timeout (refused, no route, timeout)
    target_not_found,  // login status 0203 (or the target named no such target)
    auth_failed,       // login status 0201/0202, or CHAP the target asked for and we cannot do
    login_failed,      // any other login failure status or a broken login exchange
    no_such_lun,       // ILLEGAL REQUEST 25h/00h, or a LUN REPORT LUNS does not list
    scsi_error,        // the target completed the command with a status other than GOOD
    timeout,           // the command did not complete in its time; it was aborted (ABORT TASK)
    connection_lost,   // the connection failed and could not be re-established in time
    protocol_error,    // the target broke RFC 7143 (a Reject, a malformed PDU, a bad offset)
    closed,            // the session was logged out or destroyed with the command pending
};
const char* error_kind_name(ErrorKind kind);

struct Error {
    ErrorKind kind = ErrorKind::protocol_error;
    std::string message;
    // For scsi_error (and no_such_lun when it came from the target): the status and sense.
    std::uint8_t status = 0;
    std::optional<scsi::Sense> sense;
};

template <class T>
using Result = tl::expected<T, Error>;

inline Error make_error(ErrorKind kind, std::string message) {
    return Error{kind, std::move(message), 0, std::nullopt};
}
inline tl::unexpected<Error> fail(ErrorKind kind, std::string message) {
    return tl::unexpected<Error>(make_error(kind, std::move(message)));
}

}  // namespace iscsikit::initiator
