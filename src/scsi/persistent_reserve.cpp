// Persistent reservations (SPC-4 §5.13): the state's rules, PERSISTENT RESERVE OUT (§6.16) and
// the conflicts a persistent reservation causes for other commands (§5.13.1). All of it runs under
// LuState::mutex; none of it touches the backstore. PERSISTENT RESERVE IN is in
// persistent_reserve_in.cpp.
//
// PREEMPT AND ABORT preempts as PREEMPT does, then has the transport abort the preempted I_T
// nexuses' tasks on this LU (LogicalUnit::TaskAborter) and completes when they are gone. REGISTER
// with SPEC_I_PT also registers the initiator ports its TransportIDs name, ALL_TG_PT is taken, and
// REGISTER AND MOVE hands the reservation to another initiator port (persistent_reserve_ports.cpp).
// RESERVE(6) and RESERVE(10) reservations (spc.cpp) and persistent ones exclude each other
// (SPC-4 §5.13.3).
//
// Not supported yet, and answered as SPC-4 says for that: APTPL (state on disk: INVALID FIELD IN
// PARAMETER LIST). REPORT CAPABILITIES says so (PTPL_C 0).
#include <algorithm>

#include "scsi/opcodes.hpp"

namespace iscsikit::scsi::detail {

namespace {

// SPC-4 §6.16.3: the basic PERSISTENT RESERVE OUT parameter list.
constexpr std::size_t kBasicParameterListLength = 24;
constexpr std::uint8_t kSpecIPt = 0x08;  // byte 20
constexpr std::uint8_t kAllTgPt = 0x04;
constexpr std::uint8_t kAptpl = 0x01;

// SPC-4 §6.16.1: service actions.
enum : std::uint8_t {
    kRegister = 0x00,
    kReserve = 0x01,
    kRelease = 0x02,
    kClear = 0x03,
    kPreempt = 0x04,
    kPreemptAndAbort = 0x05,
    kRegisterAndIgnoreExistingKey = 0x06,
    kRegisterAndMove = 0x07,
};

// Unit attentions of SPC-4 §5.13.11 (ASC 2Ah).
constexpr std::uint8_t kAscParametersChanged = 0x2a;
constexpr std::uint8_t kReservationsPreempted = 0x03;
constexpr std::uint8_t kReservationsReleased = 0x04;
constexpr std::uint8_t kRegistrationsPreempted = 0x05;

bool valid_type(std::uint8_t type) {
    switch (static_cast<PrType>(type)) {
        case PrType::write_exclusive:
        case PrType::exclusive_access:
        case PrType::write_exclusive_registrants_only:
        case PrType::exclusive_access_registrants_only:
        case PrType::write_exclusive_all_registrants:
        case PrType::exclusive_access_all_registrants: return true;
    }
    return false;
}

struct Parameters {
    std::uint64_t key = 0;                 // RESERVATION KEY
    std::uint64_t service_action_key = 0;  // SERVICE ACTION RESERVATION KEY
    std::uint8_t scope = 0;
    std::uint8_t type = 0;
    bool spec_i_pt = false;
    bool all_target_ports = false;
    std::vector<SpecifiedPort> specified;  // SPEC_I_PT's TransportIDs
};

// A unit attention for every registered I_T nexus but `except` (SPC-4 §5.13.11: "the initiator
// port associated with every registered I_T nexus other than the one on which the command was
// received"). A registered nexus that is not connected has no queue: when it comes back it starts
// with POWER ON (29h/00h), which tells it as much.
void ua_nexus_locked(LuState& lu, std::uint64_t nexus, std::uint8_t ascq) {
    if (auto it = lu.nexuses.find(nexus); it != lu.nexuses.end())
        lu.queue_ua_locked(it->second, kAscParametersChanged, ascq);
}

void ua_registrants_locked(LuState& lu, std::uint64_t except, std::uint8_t ascq) {
    for (const PrRegistration& r : lu.pr.registrations)
        if (r.nexus != except) ua_nexus_locked(lu, r.nexus, ascq);
}

// A reservation whose holders are all gone is released (SPC-4 §5.13.10): an all registrants
// type when the last registration goes, the others with their holder's registration.
void drop_orphaned_reservation_locked(PersistentReservations& pr) {
    if (!pr.reservation) return;
    if (all_registrants(pr.reservation->type) ? pr.registrations.empty() : pr.find(pr.reservation->holder) == nullptr)
        pr.reservation.reset();
}

// SPC-4 §5.13.11.3 (unregistering): the registration goes; a holder's reservation of a type other
// than all registrants is released with it, and for a registrants only type every other registrant
// hears RESERVATIONS RELEASED.
void unregister_locked(LuState& lu, std::uint64_t nexus) {
    PersistentReservations& pr = lu.pr;
    const bool released = pr.reservation && !all_registrants(pr.reservation->type) && pr.holds(nexus);
    const bool tell_others = released && registrants_only(pr.reservation->type);
    std::erase_if(pr.registrations, [nexus](const PrRegistration& r) { return r.nexus == nexus; });
    if (released) pr.reservation.reset();
    drop_orphaned_reservation_locked(pr);
    if (tell_others) ua_registrants_locked(lu, nexus, kReservationsReleased);
}

// SPC-4 §5.13.7 (table "Register behaviors"): REGISTER checks the key the nexus holds; REGISTER
// AND IGNORE EXISTING KEY does not. A new key of zero unregisters. PRgeneration counts every
// successful request (SPC-4 §6.15.2), one that changes nothing included.
Flow register_key(LuState& lu, Command& cmd, const Parameters& p, bool ignore_existing_key) {
    PersistentReservations& pr = lu.pr;
    PrRegistration* mine = pr.find(cmd.nexus);
    const std::uint64_t held = mine ? mine->key : 0;
    if (!ignore_existing_key && p.key != held) return conflict(cmd);
    // SPC-4 §5.13.7 (table "Register behaviors"): SPEC_I_PT is for an unregistered I_T nexus.
    if (mine != nullptr && p.spec_i_pt) return fail(cmd, Sense::invalid_field_in_parameter_list(20, 3));
    if (mine == nullptr && p.service_action_key != 0 && p.spec_i_pt)
        return register_specified_locked(lu, cmd, p.service_action_key, p.all_target_ports, p.specified);
    if (mine == nullptr && p.service_action_key != 0) {
        if (pr.registrations.size() >= PersistentReservations::kMaxRegistrations)
            return fail(cmd, Sense::insufficient_registration_resources());
        pr.registrations.push_back({cmd.nexus, p.service_action_key,
                                    std::vector<std::uint8_t>(cmd.transport_id.begin(), cmd.transport_id.end()),
                                    p.all_target_ports});
    } else if (mine != nullptr && p.service_action_key != 0) {
        mine->key = p.service_action_key;  // a holder's reservation now carries the new key
    } else if (mine != nullptr) {
        unregister_locked(lu, cmd.nexus);
    }
    ++pr.generation;
    return good(cmd);
}

// SPC-4 §5.13.9 (reserving). PRgeneration does not change (SPC-4 §6.15.2).
Flow reserve(LuState& lu, Command& cmd, const Parameters& p) {
    PersistentReservations& pr = lu.pr;
    if (pr.reservation) {
        // Another nexus's reservation, or the holder asking for another type, conflicts; the same
        // again from the holder changes nothing.
        if (!pr.holds(cmd.nexus) || pr.reservation->type != static_cast<PrType>(p.type)) return conflict(cmd);
        return good(cmd);
    }
    // SPC-4 §5.13.3: a RESERVE(6) reservation and a persistent one exclude each other.
    if (lu.reservation) return conflict(cmd);
    pr.reservation = PersistentReservations::Reservation{cmd.nexus, static_cast<PrType>(p.type)};
    return good(cmd);
}

// SPC-4 §5.13.11.2 (releasing). Without a reservation, or from a registrant that does not hold
// it, RELEASE does nothing and succeeds.
Flow release(LuState& lu, Command& cmd, const Parameters& p) {
    PersistentReservations& pr = lu.pr;
    if (!pr.reservation || !pr.holds(cmd.nexus)) return good(cmd);
    const PrType type = pr.reservation->type;
    if (p.scope != 0 || static_cast<PrType>(p.type) != type)
        return fail(cmd, Sense::invalid_release_of_persistent_reservation());
    pr.reservation.reset();
    // Only the registrants only and all registrants types tell the other registrants.
    if (registrants_only(type) || all_registrants(type)) ua_registrants_locked(lu, cmd.nexus, kReservationsReleased);
    return good(cmd);
}

// SPC-4 §5.13.11.5 (clearing): every registration and the reservation go; every other registrant
// hears RESERVATIONS PREEMPTED.
Flow clear(LuState& lu, Command& cmd) {
    PersistentReservations& pr = lu.pr;
    ua_registrants_locked(lu, cmd.nexus, kReservationsPreempted);
    pr.registrations.clear();
    pr.reservation.reset();
    ++pr.generation;
    return good(cmd);
}

// Removes the registrations `doomed` picks; each nexus that lost one, but the sender, hears
// REGISTRATIONS PREEMPTED. Their nexuses are added to `preempted`.
template <typename Doomed>
void remove_registrations_locked(LuState& lu, std::uint64_t sender, Doomed doomed,
                                 std::vector<std::uint64_t>& preempted) {
    std::erase_if(lu.pr.registrations, [&](const PrRegistration& r) {
        if (!doomed(r)) return false;
        if (r.nexus != sender) ua_nexus_locked(lu, r.nexus, kRegistrationsPreempted);
        preempted.push_back(r.nexus);
        return true;
    });
}

// SPC-4 §5.13.11.4 (preempting), for PREEMPT and PREEMPT AND ABORT alike; `preempted` gets the
// I_T nexuses whose registrations or reservation were preempted, whose tasks PREEMPT AND ABORT
// then aborts (§5.13.11.4.5).
Flow preempt(LuState& lu, Command& cmd, const Parameters& p, std::vector<std::uint64_t>& preempted) {
    PersistentReservations& pr = lu.pr;
    const std::uint64_t sender = cmd.nexus;
    const std::uint64_t target = p.service_action_key;
    const bool all = pr.reservation && all_registrants(pr.reservation->type);
    const PrRegistration* holder = pr.reservation && !all ? pr.find(pr.reservation->holder) : nullptr;
    const bool takes_reservation = all ? target == 0 : holder != nullptr && holder->key == target;

    if (!takes_reservation) {
        // §5.13.11.4.4 (removing registrations): SCOPE and TYPE are ignored; a key of zero names
        // nothing, and one that no registration holds conflicts.
        if (target == 0) return fail(cmd, Sense::invalid_field_in_parameter_list(8));
        const auto matches = [target](const PrRegistration& r) { return r.key == target; };
        if (std::none_of(pr.registrations.begin(), pr.registrations.end(), matches)) return conflict(cmd);
        remove_registrations_locked(lu, sender, matches, preempted);
        drop_orphaned_reservation_locked(pr);
        ++pr.generation;
        return good(cmd);
    }

    // §5.13.11.4.3 (preempting persistent reservations): the registrations named go (all but the
    // sender's, for an all registrants type and key zero), and the sender holds a reservation of
    // the new type; if the type changed, the remaining registrants hear RESERVATIONS RELEASED.
    if (p.scope != 0) return fail(cmd, Sense::invalid_field_in_cdb(2, 7));
    if (!valid_type(p.type)) return fail(cmd, Sense::invalid_field_in_cdb(2, 3));
    const PrType old_type = pr.reservation->type;
    // The sender naming its own key preempts its own reservation but keeps its registration.
    if (!all && pr.find(sender)->key == target) preempted.push_back(sender);
    remove_registrations_locked(
        lu, sender, [&](const PrRegistration& r) { return r.nexus != sender && (all || r.key == target); }, preempted);
    pr.reservation = PersistentReservations::Reservation{sender, static_cast<PrType>(p.type)};
    if (old_type != pr.reservation->type) ua_registrants_locked(lu, sender, kReservationsReleased);
    ++pr.generation;
    return good(cmd);
}

template <typename Registrations>
auto* registration_of(Registrations& registrations, std::uint64_t nexus) {
    auto it =
        std::find_if(registrations.begin(), registrations.end(), [nexus](const auto& r) { return r.nexus == nexus; });
    return it == registrations.end() ? nullptr : &*it;
}

Flow run_locked(LuState& lu, Command& cmd, std::uint8_t action, const Parameters& p,
                std::vector<std::uint64_t>& preempted) {
    if (action == kRegister || action == kRegisterAndIgnoreExistingKey)
        return register_key(lu, cmd, p, action == kRegisterAndIgnoreExistingKey);
    // SPC-4 §5.13.1: every other service action needs the sender registered with that key.
    const PrRegistration* mine = lu.pr.find(cmd.nexus);
    if (mine == nullptr || mine->key != p.key) return conflict(cmd);
    switch (action) {
        case kReserve: return reserve(lu, cmd, p);
        case kRelease: return release(lu, cmd, p);
        case kClear: return clear(lu, cmd);
        case kPreempt:
        case kPreemptAndAbort: return preempt(lu, cmd, p, preempted);
        default: return fail(cmd, Sense::invalid_field_in_cdb(1, 4));  // the opcode table lets no other through
    }
}

}  // namespace

PrRegistration* PersistentReservations::find(std::uint64_t nexus) { return registration_of(registrations, nexus); }

const PrRegistration* PersistentReservations::find(std::uint64_t nexus) const {
    return registration_of(registrations, nexus);
}

bool PersistentReservations::holds(std::uint64_t nexus) const {
    if (!reservation) return false;
    // SPC-4 §5.13.10: every registrant holds an all registrants reservation.
    if (all_registrants(reservation->type)) return find(nexus) != nullptr;
    return reservation->holder == nexus;
}

bool reservation_exempt_by_cdb(const Cdb& cdb) {
    switch (cdb[0]) {
        case 0x1e: return (cdb[4] & 0x03) == 0;                        // PREVENT ALLOW MEDIUM REMOVAL
        case 0x1b: return (cdb[4] & 0x01) != 0 && (cdb[4] >> 4) == 0;  // START STOP UNIT
        default: return false;
    }
}

bool persistent_reservation_conflict_locked(const LuState& lu, const OpcodeRow* row, const Command& cmd) {
    const PersistentReservations& pr = lu.pr;
    if (!pr.reservation || pr.holds(cmd.nexus)) return false;
    const std::uint8_t flags = row != nullptr ? row->flags : 0;
    if (flags & kPrAllowed) return false;
    if ((flags & kPrByCdb) && reservation_exempt_by_cdb(cmd.cdb)) return false;
    const PrType type = pr.reservation->type;
    // Under the registrants only and all registrants types, every registered nexus has access.
    if ((registrants_only(type) || all_registrants(type)) && pr.find(cmd.nexus) != nullptr) return false;
    if (flags & kPrReadAccess) return exclusive_access(type);
    return true;
}

Flow persistent_reserve_out(LuState& lu, Command& cmd, IoEngine& io) {
    const Cdb& c = cmd.cdb;
    const std::uint8_t action = c[1] & 0x1f;
    const std::uint32_t length = load_be32(&c[5]);
    // SPC-4 §6.16.3: without SPEC_I_PT the parameter list is exactly 24 bytes.
    if (length < kBasicParameterListLength || cmd.buffer.size() < kBasicParameterListLength)
        return fail(cmd, Sense::parameter_list_length_error());
    const auto* d = reinterpret_cast<const std::uint8_t*>(cmd.buffer.data());
    if (action == kRegisterAndMove) {
        // SPC-4 §6.16.4: a parameter list of its own, naming where the reservation goes.
        std::lock_guard lock(lu.mutex);
        const Flow flow = register_and_move_locked(lu, cmd, {d, cmd.buffer.size()}, length);
        lu.update_quiet_locked();
        return flow;
    }
    Parameters p;
    p.key = load_be64(&d[0]);
    p.service_action_key = load_be64(&d[8]);
    p.scope = static_cast<std::uint8_t>(c[2] >> 4);
    p.type = static_cast<std::uint8_t>(c[2] & 0x0f);
    const bool registering = action == kRegister || action == kRegisterAndIgnoreExistingKey;
    // SPC-4 §6.16.3: SPEC_I_PT is an error but for REGISTER; ALL_TG_PT and APTPL count only when
    // registering, and APTPL is not supported (REPORT CAPABILITIES: PTPL_C 0).
    p.spec_i_pt = (d[20] & kSpecIPt) != 0;
    p.all_target_ports = registering && (d[20] & kAllTgPt) != 0;
    if (p.spec_i_pt && action != kRegister) return fail(cmd, Sense::invalid_field_in_parameter_list(20, 3));
    if (registering && (d[20] & kAptpl)) return fail(cmd, Sense::invalid_field_in_parameter_list(20, 0));
    if (p.spec_i_pt) {
        const std::span<const std::uint8_t> data(d, cmd.buffer.size());
        if (auto sense = read_specified_ports(data, length, p.specified)) return fail(cmd, *sense);
    } else if (length != kBasicParameterListLength) {
        return fail(cmd, Sense::parameter_list_length_error());
    }
    // SPC-4 §6.16.2: RESERVE names an LU_SCOPE reservation of a valid type.
    if (action == kReserve && p.scope != 0) return fail(cmd, Sense::invalid_field_in_cdb(2, 7));
    if (action == kReserve && !valid_type(p.type)) return fail(cmd, Sense::invalid_field_in_cdb(2, 3));

    std::vector<std::uint64_t> preempted;
    {
        std::lock_guard lock(lu.mutex);
        run_locked(lu, cmd, action, p, preempted);
        lu.update_quiet_locked();  // the reservation may have come or gone, and unit attentions with it
    }
    // SPC-4 §5.13.11.4.5: PREEMPT AND ABORT aborts the tasks of the preempted I_T nexuses (SAM-5
    // §5.6), all but itself, and completes once they are gone: every task after it then meets
    // the new reservation. New tasks of theirs already meet it, so the lock need not be held.
    if (action != kPreemptAndAbort || cmd.status != Status::good || !lu.task_aborter) return Flow::complete;
    std::erase_if(preempted, PrRegistration::waiting);  // a registration waiting for its nexus has no tasks
    std::sort(preempted.begin(), preempted.end());
    preempted.erase(std::unique(preempted.begin(), preempted.end()), preempted.end());
    if (preempted.empty()) return Flow::complete;
    // The aborter may call back from another reactor: the command completes on its own.
    lu.task_aborter(*lu.owner, preempted, &cmd, [&io, &cmd] { io.post([&cmd] { complete(cmd); }); });
    return Flow::pending;
}

}  // namespace iscsikit::scsi::detail
