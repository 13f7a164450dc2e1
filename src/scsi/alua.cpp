// Asymmetric logical unit access (SPC-4 §5.15): REPORT TARGET PORT GROUPS (§6.36), SET TARGET PORT
// GROUPS (§6.46), and what the dispatcher refuses while the LU's target port group is in the
// standby or unavailable state (§5.15.2.4.4, §5.15.2.4.5).
//
// An iSCSI target port is the target name with its portal group tag (RFC 7143 §4.4.1); a target
// has one portal group, so each LU is reached through one target port, in one target port group,
// both named by its LuIdentity. The group's state is LuState::access_state, shared by every
// session; SET TARGET PORT GROUPS (explicit ALUA) and management (implicit ALUA,
// LogicalUnit::set_access_state) change it.
#include <algorithm>
#include <iterator>
#include <optional>
#include <string_view>
#include <vector>

#include "scsi/lu_state.hpp"
#include "scsi/opcodes.hpp"

namespace iscsikit::scsi {
namespace detail {
namespace {

constexpr std::size_t kGroupDescriptorBytes = 8;  // SPC-4 §6.36.2: target port group descriptor
constexpr std::size_t kPortDescriptorBytes = 4;   // SPC-4 §6.36.2: target port descriptor
constexpr std::size_t kSetHeaderBytes = 4;        // SPC-4 §6.46: reserved bytes before the descriptors
constexpr std::size_t kSetDescriptorBytes = 4;    // SPC-4 §6.46: set target port group descriptor

// SPC-4 §6.36.2: AO_SUP, AN_SUP, S_SUP and U_SUP; not LBD_SUP, O_SUP or T_SUP (transitions are
// instant, so no group is ever seen transitioning).
constexpr std::uint8_t kSupportedStates = 0x0f;

// SPC-4 §6.36.2 table "STATUS CODE field".
constexpr std::uint8_t kStatusSetByStpg = 0x01;  // altered by SET TARGET PORT GROUPS
constexpr std::uint8_t kStatusImplicit = 0x02;   // altered by implicit asymmetric logical unit access

// SPC-4 §6.36.1: PARAMETER DATA FORMAT 000b (length only header) and 001b (extended header).
constexpr std::uint8_t kLengthOnlyFormat = 0x0;
constexpr std::uint8_t kExtendedFormat = 0x1;
// SPC-4 §6.36.2: IMPLICIT TRANSITION TIME 0 is "not specified"; implicit transitions (management's)
// are instant.
constexpr std::uint8_t kImplicitTransitionSeconds = 0;

constexpr std::string_view kStateNames[] = {"active/optimized", "active/non-optimized", "standby", "unavailable"};

bool settable(std::uint8_t state) {
    // SPC-4 §6.46: the primary states SET TARGET PORT GROUPS may ask for, of those we support.
    return state <= static_cast<std::uint8_t>(AccessState::unavailable);
}

// Sets the state with its STATUS CODE; on a change, every I_T nexus but `except` gets
// ASYMMETRIC ACCESS STATE CHANGED (2Ah/06h).
void change_access_state(LuState& lu, AccessState state, std::uint8_t status, std::optional<std::uint64_t> except) {
    std::lock_guard lock(lu.mutex);
    if (state == lu.access_state.load(std::memory_order_relaxed)) return;
    lu.access_state.store(state, std::memory_order_release);
    lu.access_status = status;
    for (auto& [nexus, n] : lu.nexuses)
        if (nexus != except) lu.queue_ua_locked(n, 0x2a, 0x06);
    lu.update_quiet_locked();
}

}  // namespace

std::optional<Sense> access_state_refusal(const LuState& lu, const OpcodeRow& row) {
    switch (lu.access_state.load(std::memory_order_acquire)) {
        case AccessState::active_optimized:
        case AccessState::active_non_optimized: return std::nullopt;
        // SPC-4 §5.15.2.4.4: NOT READY, LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE.
        case AccessState::standby:
            if (row.flags & kAluaStandby) return std::nullopt;
            return Sense::make(SenseKey::not_ready, 0x04, 0x0b);
        // SPC-4 §5.15.2.4.5: NOT READY, LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE STATE.
        case AccessState::unavailable:
            if (row.flags & kAluaUnavailable) return std::nullopt;
            return Sense::make(SenseKey::not_ready, 0x04, 0x0c);
    }
    return std::nullopt;
}

Flow report_target_port_groups(LuState& lu, Command& cmd, IoEngine&) {
    const Cdb& c = cmd.cdb;
    const std::uint8_t format = c[1] >> 5;  // PARAMETER DATA FORMAT
    // SPC-4 §6.36.1: formats 010b to 111b are reserved.
    if (format != kLengthOnlyFormat && format != kExtendedFormat) return fail(cmd, Sense::invalid_field_in_cdb(1, 7));
    const std::uint32_t allocation = load_be32(&c[6]);

    const std::size_t header = format == kExtendedFormat ? 8 : 4;
    std::vector<std::uint8_t> d(header + kGroupDescriptorBytes + kPortDescriptorBytes, 0);
    if (format == kExtendedFormat) {
        d[4] = 0x10;  // FORMAT TYPE 001b
        d[5] = kImplicitTransitionSeconds;
    }
    std::uint8_t* group = &d[header];
    {
        std::lock_guard lock(lu.mutex);  // the state and its status code as one SET left them
        group[0] = static_cast<std::uint8_t>(lu.access_state.load(std::memory_order_relaxed));  // PREF 0
        group[5] = lu.access_status;
    }
    group[1] = kSupportedStates;
    store_be16(&group[2], lu.identity.target_port_group);
    group[7] = 1;  // TARGET PORT COUNT: this LU's one target port
    store_be16(&group[kGroupDescriptorBytes + 2], lu.identity.relative_target_port);
    // SPC-4 §6.36.2: RETURN DATA LENGTH counts the bytes after it, whatever the allocation length.
    store_be32(d.data(), static_cast<std::uint32_t>(d.size() - 4));
    return data_in(cmd, d.data(), d.size(), allocation);
}

Flow set_target_port_groups(LuState& lu, Command& cmd, IoEngine&) {
    const std::size_t length = load_be32(&cmd.cdb[6]);
    // SPC-4 §6.46: a PARAMETER LIST LENGTH of zero transfers nothing and changes nothing.
    if (length == 0) return good(cmd);
    // Only the data-out that arrived counts; a list that cuts a descriptor is a length error.
    const std::size_t have = std::min(length, cmd.buffer.size());
    if (have < kSetHeaderBytes || (have - kSetHeaderBytes) % kSetDescriptorBytes != 0)
        return fail(cmd, Sense::parameter_list_length_error());
    const auto* p = reinterpret_cast<const std::uint8_t*>(cmd.buffer.data());

    // Every descriptor is checked before any state changes.
    std::optional<AccessState> wanted;
    for (std::size_t at = kSetHeaderBytes; at < have; at += kSetDescriptorBytes) {
        const std::uint8_t state = p[at] & 0x0f;
        // SPC-4 §6.46: an unsupported state (offline, transitioning, logical block dependent) and a
        // target port group that does not exist are INVALID FIELD IN PARAMETER LIST.
        if (!settable(state))
            return fail(cmd, Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(at), 3));
        if (load_be16(p + at + 2) != lu.identity.target_port_group)
            return fail(cmd, Sense::invalid_field_in_parameter_list(static_cast<std::uint16_t>(at + 2)));
        wanted = static_cast<AccessState>(state);  // a group named twice takes the last state
    }
    // SPC-4 §6.46: every other I_T nexus learns of it through ASYMMETRIC ACCESS STATE CHANGED.
    if (wanted) change_access_state(lu, *wanted, kStatusSetByStpg, cmd.nexus);
    cmd.buffer.clear();
    return good(cmd);
}

}  // namespace detail

std::string_view access_state_name(AccessState state) { return detail::kStateNames[static_cast<std::size_t>(state)]; }

std::optional<AccessState> parse_access_state(std::string_view name) {
    for (std::size_t i = 0; i < std::size(detail::kStateNames); ++i)
        if (detail::kStateNames[i] == name) return static_cast<AccessState>(i);
    return std::nullopt;
}

// SPC-4 §5.15: an implicit transition, reported to every I_T nexus, with STATUS CODE 02h (§6.36.2).
void LogicalUnit::set_access_state(AccessState state) {
    detail::change_access_state(*state_, state, detail::kStatusImplicit, std::nullopt);
}

AccessState LogicalUnit::access_state() const { return state_->access_state.load(std::memory_order_acquire); }

}  // namespace iscsikit::scsi
