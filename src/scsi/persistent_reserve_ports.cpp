// Registrations for initiator ports other than the sender's (SPC-4 §6.16.3, SPEC_I_PT): the
// TransportID list of a REGISTER, and how such a registration finds its I_T nexus. The device
// layer knows an I_T nexus by the id its transport gives (Command::nexus), and a port by the
// TransportID that comes with it; a port named before it ever reached this LU gets a registration
// that waits (PrRegistration::kNoNexus) and becomes that nexus's on its first command here.
// FORMAT CODE 00b names an initiator, not a port: its registration goes to the first port of
// that initiator that is not registered already. Runs under LuState::mutex.
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
        PrRegistration r{PrRegistration::kNoNexus, key, s.transport_id, all_target_ports};
        for (const auto& [nexus, state] : lu.nexuses) {
            const bool taken =
                std::any_of(added.begin(), added.end(), [n = nexus](const PrRegistration& a) { return a.nexus == n; });
            if (state.port && names_port(s.port, *state.port) && !taken && pr.find(nexus) == nullptr) {
                r.nexus = nexus;
                r.transport_id = state.transport_id;
                break;
            }
        }
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
        if (r.nexus != PrRegistration::kNoNexus) continue;
        const auto pattern = port_of(r);
        if (pattern && names_port(*pattern, *state.port)) {
            r.nexus = nexus;
            r.transport_id = state.transport_id;  // READ FULL STATUS names the port now
            return;
        }
    }
}

}  // namespace iscsikit::scsi::detail
