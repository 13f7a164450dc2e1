// Registrations for initiator ports other than the sender's: the TransportID list of a REGISTER
// with SPEC_I_PT (SPC-4 §6.16.3), REGISTER AND MOVE (§5.13.8, §6.16.4), and how such a
// registration finds its I_T nexus. The device layer knows an I_T nexus by the id its transport
// gives (Command::nexus), and a port by the TransportID that comes with it; a port named before it
// ever reached this LU gets a registration that waits, under a stand-in id
// (PrRegistration::waiting), and becomes that nexus's on its first command here, with the
// reservation if the registration holds it. FORMAT CODE 00b names an initiator, not a port: its
// registration goes to the first port of that initiator that is not registered already.
// Runs under LuState::mutex.
#include <algorithm>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

constexpr std::size_t kListStart = 24;  // SPC-4 §6.16.3: TRANSPORTID PARAMETER DATA LENGTH
constexpr std::size_t kIdsStart = 28;   // the first TransportID

// The port a registration is for, or waits for (what its TransportID names).
std::optional<IscsiPortName> port_of(const PrRegistration& r) { return scsi::port_of(r.transport_id); }

// Whether a registration exists for a port `pattern` names, or that waits for one of them.
bool registered_locked(const LuState& lu, const IscsiPortName& pattern) {
    return std::any_of(lu.pr.registrations.begin(), lu.pr.registrations.end(), [&](const PrRegistration& r) {
        const auto port = port_of(r);
        return port && (names_port(pattern, *port) || names_port(*port, pattern));
    });
}

}  // namespace

std::optional<Sense> read_specified_ports(std::span<const std::uint8_t> data, std::uint32_t length,
                                          std::vector<SpecifiedPort>& out) {
    // SPC-4 §6.16.3: the list must be all there, and its length say as much as the CDB's.
    if (length < kIdsStart || data.size() < length) return Sense::parameter_list_length_error();
    const std::uint32_t list_length = load_be32(&data[kListStart]);
    if (kIdsStart + std::uint64_t{list_length} != length) return Sense::parameter_list_length_error();
    for (std::size_t at = kIdsStart; at < length;) {
        // More ports than the LU keeps registrations for cannot all be registered.
        if (out.size() == PersistentReservations::kMaxRegistrations)
            return Sense::insufficient_registration_resources();
        const ParsedTransportId id = parse_transport_id(data.subspan(at, length - at));
        if (!id.port)
            return Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(at + id.bad_byte), id.bad_bit);
        out.push_back({*id.port,
                       std::vector<std::uint8_t>(data.begin() + static_cast<std::ptrdiff_t>(at),
                                                 data.begin() + static_cast<std::ptrdiff_t>(at + id.length)),
                       static_cast<std::uint16_t>(std::min<std::size_t>(at, 0xffff))});
        at += id.length;
    }
    return std::nullopt;
}

Flow register_specified_locked(LuState& lu, Command& cmd, std::uint64_t key, bool all_target_ports,
                               const std::vector<SpecifiedPort>& specified) {
    PersistentReservations& pr = lu.pr;
    const std::optional<IscsiPortName> own = scsi::port_of(cmd.transport_id);
    std::vector<PrRegistration> added;
    added.push_back({cmd.nexus, key, {cmd.transport_id.begin(), cmd.transport_id.end()}, all_target_ports});
    std::vector<const IscsiPortName*> seen;
    for (const SpecifiedPort& s : specified) {
        // The sender's own port, and a port named twice, are registered once.
        if (own && s.port == *own) continue;
        if (std::any_of(seen.begin(), seen.end(), [&](const IscsiPortName* p) { return *p == s.port; })) continue;
        seen.push_back(&s.port);
        // SPC-4 §6.16.3: a port registered already fails the whole request; nothing is registered.
        if (registered_locked(lu, s.port)) return fail(cmd, Sense::invalid_field_in_parameter_list(s.offset));
        // A port at the LU already is its nexus's now; any other waits for its nexus.
        PrRegistration r{pr.next_stand_in, key, s.transport_id, all_target_ports};
        for (const auto& [nexus, state] : lu.nexuses) {
            const bool taken =
                std::any_of(added.begin(), added.end(), [n = nexus](const PrRegistration& a) { return a.nexus == n; });
            if (state.port && names_port(s.port, *state.port) && !taken && pr.find(nexus) == nullptr) {
                r.nexus = nexus;
                r.transport_id = state.transport_id;
                break;
            }
        }
        if (PrRegistration::waiting(r.nexus)) ++pr.next_stand_in;
        added.push_back(std::move(r));
    }
    if (pr.registrations.size() + added.size() > PersistentReservations::kMaxRegistrations)
        return fail(cmd, Sense::insufficient_registration_resources());
    for (PrRegistration& r : added) pr.registrations.push_back(std::move(r));
    ++pr.generation;
    return good(cmd);
}

void nexus_arrived_locked(LuState& lu, std::uint64_t nexus, NexusState& state,
                          std::span<const std::uint8_t> transport_id) {
    state.transport_id.assign(transport_id.begin(), transport_id.end());
    state.port = scsi::port_of(transport_id);
    if (!state.port || lu.pr.find(nexus) != nullptr) return;
    for (PrRegistration& r : lu.pr.registrations) {
        if (!PrRegistration::waiting(r.nexus)) continue;
        const auto pattern = port_of(r);
        if (pattern && names_port(*pattern, *state.port)) {
            auto& reservation = lu.pr.reservation;
            if (reservation && reservation->holder == r.nexus) reservation->holder = nexus;
            r.nexus = nexus;
            r.transport_id = state.transport_id;  // READ FULL STATUS names the port now
            return;
        }
    }
}

Flow register_and_move_locked(LuState& lu, Command& cmd, std::span<const std::uint8_t> data, std::uint32_t length) {
    PersistentReservations& pr = lu.pr;
    // SPC-4 §6.16.4: RESERVATION KEY, SERVICE ACTION RESERVATION KEY, UNREG and APTPL (byte 17),
    // RELATIVE TARGET PORT IDENTIFIER (18-19), TRANSPORTID PARAMETER DATA LENGTH (20-23), the
    // TransportID.
    constexpr std::size_t kIdAt = 24;
    PrRegistration* mine = pr.find(cmd.nexus);
    // SPC-4 §5.13.8: the sender must be registered with the key it gives, and hold the
    // reservation, which must not be of an all registrants type.
    if (mine == nullptr || mine->key != load_be64(&data[0])) return conflict(cmd);
    if (!pr.reservation || all_registrants(pr.reservation->type) || pr.reservation->holder != cmd.nexus)
        return conflict(cmd);
    const std::uint64_t key = load_be64(&data[8]);
    if (key == 0) return fail(cmd, Sense::invalid_field_in_parameter_list(8));
    if (data[17] & 0x01) return fail(cmd, Sense::invalid_field_in_parameter_list(17, 0));  // APTPL: not supported
    const bool unreg = (data[17] & 0x02) != 0;
    if (load_be16(&data[18]) != lu.identity.relative_target_port)
        return fail(cmd, Sense::invalid_field_in_parameter_list(18));
    if (data.size() < length || kIdAt + std::uint64_t{load_be32(&data[20])} != length)
        return fail(cmd, Sense::parameter_list_length_error());
    const ParsedTransportId id = parse_transport_id(data.subspan(kIdAt, length - kIdAt));
    if (!id.port)
        return fail(
            cmd, Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(kIdAt + id.bad_byte), id.bad_bit));
    if (kIdAt + id.length != length) return fail(cmd, Sense::invalid_field_in_parameter_list(20));
    // One I_T nexus: FORMAT CODE 00b names no port, and the sender's own is no move.
    if (!id.port->isid) return fail(cmd, Sense::invalid_field_in_parameter_list(kIdAt, 7));
    const std::optional<IscsiPortName> own = scsi::port_of(cmd.transport_id);
    if (own && *own == *id.port) return fail(cmd, Sense::invalid_field_in_parameter_list(kIdAt));

    // The destination: a registration for that port, else a nexus of it at the LU, else a
    // registration that waits for it.
    PrRegistration* dest = nullptr;
    for (PrRegistration& r : pr.registrations)
        if (const auto port = port_of(r); port && *port == *id.port) dest = &r;
    if (dest == nullptr) {
        if (pr.registrations.size() >= PersistentReservations::kMaxRegistrations)
            return fail(cmd, Sense::insufficient_registration_resources());
        PrRegistration r{
            pr.next_stand_in, key, {data.begin() + kIdAt, data.begin() + static_cast<std::ptrdiff_t>(length)}, false};
        for (const auto& [nexus, state] : lu.nexuses) {
            if (state.port && *state.port == *id.port && pr.find(nexus) == nullptr) {
                r.nexus = nexus;
                r.transport_id = state.transport_id;
                break;
            }
        }
        if (PrRegistration::waiting(r.nexus)) ++pr.next_stand_in;
        pr.registrations.push_back(std::move(r));
        dest = &pr.registrations.back();
        mine = pr.find(cmd.nexus);  // the vector may have moved
    }
    // A registered destination keeps its key; the reservation moves with its type and scope (the
    // CDB's SCOPE and TYPE are ignored), and with UNREG the sender's registration goes.
    pr.reservation->holder = dest->nexus;
    if (unreg) {
        const std::uint64_t sender = mine->nexus;
        std::erase_if(pr.registrations, [sender](const PrRegistration& r) { return r.nexus == sender; });
    }
    ++pr.generation;
    return good(cmd);
}

}  // namespace iscsikit::scsi::detail
