// A SCSI task as the target tracks it from SCSI Command PDU to status (RFC 7143 §3.2.2).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "scsi/command.hpp"

namespace iscsikit::scsi {
class LogicalUnit;
}

namespace iscsikit::target {

class LunCounters;

struct Burst {  // one outstanding R2T
    std::uint32_t ttt;
    std::uint32_t offset;
    std::uint32_t length;
    std::uint32_t received = 0;
    std::uint32_t next_data_sn = 0;  // DataSN restarts at 0 for each R2T (RFC 7143 §11.7.5)
};

struct Task {
    std::uint32_t itt = 0;
    std::uint64_t lun_field = 0;  // the 8-byte LUN as the initiator sent it
    std::uint32_t cmd_sn = 0;
    bool immediate = false;
    bool read = false;
    bool write = false;
    std::uint32_t expected_length = 0;  // ExpectedDataTransferLength
    scsi::Command command;
    std::shared_ptr<const SessionLuns> luns;  // keeps `unit` alive (registry.hpp)
    scsi::LogicalUnit* unit = nullptr;
    LunCounters* counters = nullptr;                  // the LUN's metrics (nullptr: no such LUN)
    std::chrono::steady_clock::time_point arrived{};  // when the SCSI Command PDU came (latency)

    // Data-out bookkeeping
    std::uint32_t cdb_out_length = 0;   // bytes the CDB writes (residuals)
    std::uint32_t wanted = 0;           // bytes we keep: min(expected_length, cdb_out_length)
    std::uint32_t solicit_end = 0;      // bytes we ask for: normally all of expected_length
    std::uint32_t first_burst_end = 0;  // unsolicited data ends here
    bool unsolicited_open = false;      // unsolicited Data-Out may still arrive
    std::uint32_t unsolicited_data_sn = 0;
    std::uint32_t next_r2t_offset = 0;
    std::uint32_t r2t_sn = 0;
    std::vector<Burst> bursts;

    std::uint32_t data_sn = 0;   // Data-In numbering
    std::uint32_t reserved = 0;  // bytes of buffer counted against the session's budget
    enum class State { receiving, waiting, running, done } state = State::receiving;
    bool aborted = false;
    bool lent = false;  // Data-In went out as file pages by reference (Session::lend)
};

}  // namespace iscsikit::target
