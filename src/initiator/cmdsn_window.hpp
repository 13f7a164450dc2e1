// The initiator's view of the command window (RFC 7143 §4.2.2.1): which CmdSN the next
// non-immediate command carries and whether the target's MaxCmdSN lets it go now.
#pragma once

#include <cstdint>

#include "iscsi/serial.hpp"

namespace iscsikit::initiator {

class CmdSnWindow {
public:
    // After login: the first command carries the ExpCmdSN of the final Login Response.
    void reset(std::uint32_t exp_cmd_sn, std::uint32_t max_cmd_sn) {
        next_ = exp_cmd_sn;
        exp_ = exp_cmd_sn;
        max_ = max_cmd_sn;
    }

    // §4.2.2.1: a non-immediate command may be sent while CmdSN <= MaxCmdSN (serial arithmetic).
    // MaxCmdSN = ExpCmdSN - 1 closes the window.
    bool open() const { return iscsi::serial_le(next_, max_); }
    // The CmdSN of the next non-immediate command, consumed.
    std::uint32_t take() { return next_++; }
    // Immediate commands carry the current CmdSN and do not advance it (§4.2.2.1, §11.3.6).
    std::uint32_t peek() const { return next_; }

    // Every response carries ExpCmdSN/MaxCmdSN. §4.2.2.1: when MaxCmdSN < ExpCmdSN - 1 the values
    // are ignored; values older than the ones held are ignored too (PDUs cross on the wire).
    // Returns false when the pair was ignored.
    bool update(std::uint32_t exp_cmd_sn, std::uint32_t max_cmd_sn) {
        if (iscsi::serial_lt(max_cmd_sn, exp_cmd_sn - 1)) return false;
        // An ExpCmdSN beyond the next CmdSN we would send means the target acknowledges commands we
        // never sent: a protocol violation the caller may log; the window itself ignores it.
        if (iscsi::serial_gt(exp_cmd_sn, next_)) return false;
        if (iscsi::serial_gt(exp_cmd_sn, exp_)) exp_ = exp_cmd_sn;
        if (iscsi::serial_gt(max_cmd_sn, max_)) max_ = max_cmd_sn;
        return true;
    }

    std::uint32_t next() const { return next_; }
    std::uint32_t exp() const { return exp_; }
    std::uint32_t max() const { return max_; }
    // Commands the target has not acknowledged yet (sent with CmdSN >= ExpCmdSN).
    std::uint32_t unacknowledged() const { return next_ - exp_; }
    // How many more non-immediate commands may go now.
    std::uint32_t room() const { return open() ? max_ - next_ + 1 : 0; }

private:
    std::uint32_t next_ = 0, exp_ = 0, max_ = 0;
};

}  // namespace iscsikit::initiator
