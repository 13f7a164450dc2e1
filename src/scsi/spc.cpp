// The SPC-4 commands every logical unit answers besides INQUIRY and MODE: TEST UNIT READY,
// REQUEST SENSE, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, RESERVE and RELEASE (6 and 10).
#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {

Flow test_unit_ready(LuState& lu, Command& cmd, IoEngine&) {
    // SBC-3 §5.32: an absent medium is NOT READY. A unit stopped by START STOP UNIT answers
    // GOOD here (libiscsi StartStopUnit.NoLoej expects that); media access commands report it.
    if (lu.readiness.load(std::memory_order_relaxed) == Readiness::no_medium)
        return fail(cmd, Sense::medium_not_present());
    return good(cmd);
}

Flow request_sense(LuState& lu, Command& cmd, IoEngine&) {
    const bool descriptor = cmd.cdb[1] & 0x01;
    const std::uint32_t allocation = cmd.cdb[4];
    // SPC-4 §6.39: report (and so clear) a pending unit attention, else the pollable state.
    std::optional<Sense> sense;
    {
        std::lock_guard lock(lu.mutex);
        sense = lu.take_ua_locked(cmd.nexus);
    }
    // SBC-4 §4.11: a sanitize in progress reports its progress here; a failed one, its failure.
    if (!sense) sense = sanitize_sense(lu);
    if (!sense && lu.readiness.load(std::memory_order_relaxed) == Readiness::no_medium)
        sense = Sense::medium_not_present();
    const Sense reported = sense.value_or(Sense{});
    if (descriptor) {
        const auto bytes = reported.encode_descriptor();
        return data_in(cmd, bytes.data(), bytes.size(), allocation);
    }
    std::uint8_t bytes[Sense::kFixedLength];
    reported.encode_fixed_into(bytes);
    return data_in(cmd, bytes, sizeof bytes, allocation);
}

Flow start_stop_unit(LuState& lu, Command& cmd, IoEngine& io) {
    const std::uint8_t power_condition = cmd.cdb[4] >> 4;
    const bool no_flush = cmd.cdb[4] & 0x04;
    const bool load_eject = cmd.cdb[4] & 0x02;
    const bool start = cmd.cdb[4] & 0x01;
    // SBC-3 §5.25: with a POWER CONDITION, START and LOEJ are ignored; a virtual disk has no
    // power conditions to enter, so there is nothing to do.
    if (power_condition != 0) return good(cmd);
    if (load_eject && !lu.identity.removable) return fail(cmd, Sense::invalid_field_in_cdb(4, 1));
    {
        std::lock_guard lock(lu.mutex);
        const Readiness now = lu.readiness.load(std::memory_order_relaxed);
        if (load_eject) {
            // SBC-3 §5.15: while any nexus prevents removal, neither eject nor load happens.
            if (lu.prevent_count > 0) return fail(cmd, Sense::medium_removal_prevented());
            lu.readiness.store(start ? Readiness::ready : Readiness::no_medium, std::memory_order_relaxed);
        } else if (now == Readiness::no_medium) {
            if (start) return fail(cmd, Sense::medium_not_present());
        } else {
            lu.readiness.store(start ? Readiness::ready : Readiness::stopped, std::memory_order_relaxed);
        }
    }
    if (start || no_flush) return good(cmd);
    // SBC-3 §5.25: NO_FLUSH 0 writes cached data to the medium before the unit stops.
    return flush_and_complete(lu, cmd, io);
}

Flow prevent_allow_medium_removal(LuState& lu, Command& cmd, IoEngine&) {
    const std::uint8_t prevent = cmd.cdb[4] & 0x03;
    // SBC-3 §5.15: 00b allows, 01b prevents; 1xb belong to other device types.
    if (prevent > 1) return fail(cmd, Sense::invalid_field_in_cdb(4, 1));
    std::lock_guard lock(lu.mutex);
    NexusState& n = lu.nexus_locked(cmd.nexus);
    if (n.prevent != (prevent == 1)) {
        n.prevent = prevent == 1;
        n.prevent ? ++lu.prevent_count : --lu.prevent_count;
    }
    return good(cmd);
}

namespace {

// SPC-2 §7.21.2, §7.17.2: RESERVE(10) and RELEASE(10) are RESERVE(6) and RELEASE(6) with room for
// third-party (3RDPTY, byte 1 bit 4) and long-ID (LONGID, bit 1) reservations, which are not
// supported; without them there is no parameter data (PARAMETER LIST LENGTH, bytes 7-8).
std::optional<Sense> refuse_cdb10(const Cdb& c) {
    if (c[1] & 0x10) return Sense::invalid_field_in_cdb(1, 4);
    if (c[1] & 0x02) return Sense::invalid_field_in_cdb(1, 1);
    if (c[1] != 0) return Sense::invalid_field_in_cdb(1);  // the obsolete EXTENT bit and reserved bits
    if (c[7] != 0 || c[8] != 0) return Sense::invalid_field_in_cdb(7);
    return std::nullopt;
}

// The logical unit reservation of SPC-2 §5.5.1, for RESERVE(6) and RESERVE(10).
Flow reserve_lu(LuState& lu, Command& cmd) {
    std::lock_guard lock(lu.mutex);
    if (lu.reservation && *lu.reservation != cmd.nexus) return conflict(cmd);
    // SPC-4 §5.13.3: while any I_T nexus is registered, every RESERVE and RELEASE conflicts.
    if (!lu.pr.registrations.empty()) return conflict(cmd);
    lu.reservation = cmd.nexus;
    lu.update_quiet_locked();
    return good(cmd);
}

Flow release_lu(LuState& lu, Command& cmd) {
    std::lock_guard lock(lu.mutex);
    if (!lu.pr.registrations.empty()) return conflict(cmd);  // SPC-4 §5.13.3, as for RESERVE(6)
    // SPC-2 §7.17: releasing someone else's reservation (or none) is not an error, just a no-op.
    if (lu.reservation == cmd.nexus) {
        lu.reservation.reset();
        lu.update_quiet_locked();
    }
    return good(cmd);
}

}  // namespace

Flow reserve6(LuState& lu, Command& cmd, IoEngine&) {
    // SPC-2 §7.21: third-party and extent reservations are not supported.
    if (cmd.cdb[1] != 0) return fail(cmd, Sense::invalid_field_in_cdb(1));
    return reserve_lu(lu, cmd);
}

Flow release6(LuState& lu, Command& cmd, IoEngine&) {
    if (cmd.cdb[1] != 0) return fail(cmd, Sense::invalid_field_in_cdb(1));
    return release_lu(lu, cmd);
}

Flow reserve10(LuState& lu, Command& cmd, IoEngine&) {
    if (auto sense = refuse_cdb10(cmd.cdb)) return fail(cmd, *sense);
    return reserve_lu(lu, cmd);
}

Flow release10(LuState& lu, Command& cmd, IoEngine&) {
    if (auto sense = refuse_cdb10(cmd.cdb)) return fail(cmd, *sense);
    return release_lu(lu, cmd);
}

}  // namespace iscsikit::scsi::detail
