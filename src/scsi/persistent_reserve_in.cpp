// PERSISTENT RESERVE IN (SPC-4 §6.15): reports of the persistent reservation state that
// persistent_reserve.cpp keeps. Each report is built whole under LuState::mutex, then cut to the
// ALLOCATION LENGTH (its length fields keep saying how much there was: SPC-4 §6.15.2).
#include <algorithm>
#include <vector>

#include "scsi/lu_state.hpp"

namespace iscsikit::scsi::detail {
namespace {

constexpr std::size_t kHeaderLength = 8;  // PRGENERATION, ADDITIONAL LENGTH

// SPC-4 §6.15.2 READ KEYS: every registered key, in order of registration.
std::vector<std::uint8_t> read_keys(const PersistentReservations& pr) {
    std::vector<std::uint8_t> d(kHeaderLength + 8 * pr.registrations.size(), 0);
    store_be32(&d[0], pr.generation);
    store_be32(&d[4], static_cast<std::uint32_t>(d.size() - kHeaderLength));
    std::size_t at = kHeaderLength;
    for (const PrRegistration& r : pr.registrations) {
        store_be64(&d[at], r.key);
        at += 8;
    }
    return d;
}

// SPC-4 §6.15.3 READ RESERVATION: the reservation, if any, with its holder's key (zero for the all
// registrants types, which every registrant holds).
std::vector<std::uint8_t> read_reservation(const PersistentReservations& pr) {
    constexpr std::size_t kDescriptorLength = 16;
    std::vector<std::uint8_t> d(kHeaderLength + (pr.reservation ? kDescriptorLength : 0), 0);
    store_be32(&d[0], pr.generation);
    store_be32(&d[4], static_cast<std::uint32_t>(d.size() - kHeaderLength));
    if (pr.reservation) {
        const PrType type = pr.reservation->type;
        const PrRegistration* holder = pr.find(pr.reservation->holder);
        store_be64(&d[8], all_registrants(type) || holder == nullptr ? 0 : holder->key);
        d[21] = static_cast<std::uint8_t>(type);  // SCOPE 0h (LU_SCOPE), TYPE
    }
    return d;
}

// SPC-4 §6.15.4 REPORT CAPABILITIES: what persistent_reserve.cpp implements, and no more.
std::vector<std::uint8_t> report_capabilities() {
    std::vector<std::uint8_t> d(8, 0);
    store_be16(&d[0], 8);  // LENGTH
    // CRH: RESERVE and RELEASE conflict while registrations exist (SPC-4 §5.13.3). SIP_C and
    // ATP_C: SPEC_I_PT and ALL_TG_PT are supported (persistent_reserve_ports.cpp; the LU has one
    // target port). PTPL_C stays 0: APTPL is not supported.
    d[2] = 0x10 | 0x08 | 0x04;
    // TMV: the type mask is valid. ALLOW COMMANDS 011b: TEST UNIT READY passes every type; MODE
    // SENSE, REPORT SUPPORTED OPERATION CODES and READ DEFECT DATA pass Write Exclusive types
    // (opcodes.cpp). PTPL_A 0.
    d[3] = 0x80 | (0x3 << 4);
    // All six types: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX; then EX_AC_AR.
    d[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
    d[5] = 0x01;
    return d;
}

// SPC-4 §6.15.5 READ FULL STATUS: one descriptor per registration, with its initiator port's
// TransportID. There is one target port, the one the LU's identity names.
std::vector<std::uint8_t> read_full_status(const PersistentReservations& pr, std::uint16_t relative_target_port) {
    constexpr std::size_t kDescriptorHeader = 24;
    std::vector<std::uint8_t> d(kHeaderLength, 0);
    for (const PrRegistration& r : pr.registrations) {
        const std::size_t at = d.size();
        d.resize(at + kDescriptorHeader + r.transport_id.size(), 0);
        std::uint8_t* p = &d[at];
        store_be64(&p[0], r.key);
        if (r.all_target_ports) p[12] |= 0x02;  // ALL_TG_PT
        if (pr.holds(r.nexus)) {
            p[12] |= 0x01;                                            // R_HOLDER
            p[13] = static_cast<std::uint8_t>(pr.reservation->type);  // SCOPE 0h (LU_SCOPE), TYPE
        }
        store_be16(&p[18], relative_target_port);
        store_be32(&p[20], static_cast<std::uint32_t>(r.transport_id.size()));  // ADDITIONAL DESCRIPTOR LENGTH
        std::copy(r.transport_id.begin(), r.transport_id.end(), p + kDescriptorHeader);
    }
    store_be32(&d[0], pr.generation);
    store_be32(&d[4], static_cast<std::uint32_t>(d.size() - kHeaderLength));
    return d;
}

}  // namespace

Flow persistent_reserve_in(LuState& lu, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    const std::uint32_t allocation = load_be16(&c[7]);
    std::vector<std::uint8_t> d;
    {
        std::lock_guard lock(lu.mutex);
        switch (c[1] & 0x1f) {
            case 0x00: d = read_keys(lu.pr); break;
            case 0x01: d = read_reservation(lu.pr); break;
            case 0x02: d = report_capabilities(); break;
            case 0x03: d = read_full_status(lu.pr, lu.identity.relative_target_port); break;
            default: return fail(cmd, Sense::invalid_field_in_cdb(1, 4));
        }
    }
    return data_in(cmd, d.data(), d.size(), allocation);
}

}  // namespace iscsikit::scsi::detail
