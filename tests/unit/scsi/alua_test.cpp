// Asymmetric logical unit access (SPC-4 §5.15): REPORT and SET TARGET PORT GROUPS, and what the
// standby and unavailable states let through.
#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

constexpr std::uint16_t kGroup = 7;  // not 1: the group comes from the LU's identity
constexpr std::uint16_t kPort = 3;

constexpr std::uint8_t kActiveOptimized = 0x0;
constexpr std::uint8_t kActiveNonOptimized = 0x1;
constexpr std::uint8_t kStandby = 0x2;
constexpr std::uint8_t kUnavailable = 0x3;

LuIdentity alua_identity() {
    LuIdentity id = identity();
    id.target_port_group = kGroup;
    id.relative_target_port = kPort;
    return id;
}

Bytes rtpg(std::uint32_t allocation, std::uint8_t format = 0) {
    return {0xa3,
            std::uint8_t(format << 5 | 0x0a),
            0,
            0,
            0,
            0,
            std::uint8_t(allocation >> 24),
            std::uint8_t(allocation >> 16),
            std::uint8_t(allocation >> 8),
            std::uint8_t(allocation),
            0,
            0};
}

Bytes stpg(std::uint32_t length) {
    return {0xa4,
            0x0a,
            0,
            0,
            0,
            0,
            std::uint8_t(length >> 24),
            std::uint8_t(length >> 16),
            std::uint8_t(length >> 8),
            std::uint8_t(length),
            0,
            0};
}

// A SET TARGET PORT GROUPS parameter list: the reserved header, then one descriptor per pair.
Bytes set_list(std::initializer_list<std::pair<std::uint8_t, std::uint16_t>> groups) {
    Bytes list(4, 0);
    for (const auto& [state, group] : groups) {
        const Bytes d{state, 0, std::uint8_t(group >> 8), std::uint8_t(group)};
        list.insert(list.end(), d.begin(), d.end());
    }
    return list;
}

Command set_state(Harness& h, std::uint8_t state, std::uint64_t nexus = 1) {
    const Bytes list = set_list({{state, kGroup}});
    return h.run(stpg(static_cast<std::uint32_t>(list.size())), list, nexus);
}

std::uint8_t reported_state(Harness& h) {
    const Command c = h.run(rtpg(64));
    EXPECT_EQ(c.status, Status::good);
    return bytes_of(c).at(4) & 0x0f;
}

const Bytes kTur{0x00, 0, 0, 0, 0, 0};
const Bytes kInquiry{0x12, 0, 0, 0, 96, 0};
const Bytes kRequestSense{0x03, 0, 0, 0, 252, 0};
const Bytes kReportLuns{0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0};
const Bytes kModeSense6{0x1a, 0x08, 0x3f, 0, 255, 0};
const Bytes kModeSelect6Empty{0x15, 0x10, 0, 0, 0, 0};
const Bytes kPrInReadKeys{0x5e, 0x00, 0, 0, 0, 0, 0, 0x01, 0x00, 0};
const Bytes kReportOpcodes{0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0};
const Bytes kReserve6{0x16, 0, 0, 0, 0, 0};

// What runs in every asymmetric access state (SPC-4 §5.15.2.4.4 and §5.15.2.4.5, and REPORT
// SUPPORTED OPERATION CODES).
void expect_the_always_allowed_commands_run(Harness& h) {
    expect_good(h.run(kInquiry));
    expect_good(h.run(kRequestSense));
    expect_good(h.run(kReportLuns));
    expect_good(h.run(kReportOpcodes));
    expect_good(h.run(rtpg(64)));
}

TEST(Alua, ReportTargetPortGroupsListsTheLusGroupWithItsStateAndPort) {
    Harness h(ram(), alua_identity());
    const Command c = h.run(rtpg(64));
    expect_good(c);
    EXPECT_EQ(bytes_of(c), (Bytes{0, 0, 0, 12,                        // RETURN DATA LENGTH
                                  kActiveOptimized, 0x0f, 0, kGroup,  // state; AO, AN, S and U supported
                                  0, 0x00, 0, 1,                      // STATUS CODE none; one target port
                                  0, 0, 0, kPort}));                  // its relative target port identifier
}

TEST(Alua, ExtendedHeaderCarriesFormatTypeAndImplicitTransitionTime) {
    Harness h(ram(), alua_identity());
    const Command c = h.run(rtpg(64, 0x1));
    expect_good(c);
    // RETURN DATA LENGTH (the extended header's 4 bytes included), FORMAT TYPE 001b, IMPLICIT
    // TRANSITION TIME 0, then the same descriptor as the length only format.
    const Bytes header{0, 0, 0, 16, 0x10, 0, 0, 0};
    const Bytes group{kActiveOptimized, 0x0f, 0, kGroup, 0, 0x00, 0, 1, 0, 0, 0, kPort};
    Bytes expected = header;
    expected.insert(expected.end(), group.begin(), group.end());
    EXPECT_EQ(bytes_of(c), expected);
}

TEST(Alua, ReservedParameterDataFormatIsInvalidFieldInCdb) {
    Harness h(ram(), alua_identity());
    for (std::uint8_t format = 2; format < 8; ++format) {
        const Command c = h.run(rtpg(64, format));
        expect_invalid_cdb_field(c, 1);
        EXPECT_EQ(c.sense.bit_pointer, 7);
    }
}

TEST(Alua, ReportTargetPortGroupsTruncatesToTheAllocationLength) {
    Harness h(ram(), alua_identity());
    const Bytes full = bytes_of(h.run(rtpg(64)));
    ASSERT_EQ(full.size(), 16u);
    for (std::uint32_t n : {0u, 3u, 4u, 8u, 12u, 15u, 16u, 17u}) {
        const Command c = h.run(rtpg(n));
        expect_good(c);
        const Bytes b = bytes_of(c);
        ASSERT_EQ(b.size(), std::min<std::size_t>(n, 16)) << n;
        // RETURN DATA LENGTH still says how much there is (libiscsi sizes its second try from it).
        EXPECT_TRUE(std::equal(b.begin(), b.end(), full.begin())) << n;
    }
}

TEST(Alua, ReportAndSetTargetPortGroupsAreInReportSupportedOperationCodes) {
    Harness h;
    const Command rtpg_row = h.run({0xa3, 0x0c, 0x02, 0xa3, 0x00, 0x0a, 0, 0, 0, 64, 0, 0});
    expect_good(rtpg_row);
    EXPECT_EQ(bytes_of(rtpg_row), (Bytes{0, 0x03, 0, 12, 0xa3, 0xea, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}));
    const Command stpg_row = h.run({0xa3, 0x0c, 0x02, 0xa4, 0x00, 0x0a, 0, 0, 0, 64, 0, 0});
    expect_good(stpg_row);
    EXPECT_EQ(bytes_of(stpg_row), (Bytes{0, 0x03, 0, 12, 0xa4, 0x0a, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x04}));
}

TEST(Alua, SetTargetPortGroupsSolicitsItsParameterListLength) {
    Harness h;
    EXPECT_EQ(h.lu->data_out_length({0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0x01, 0x08, 0, 0}), 0x108u);
}

TEST(Alua, SetTargetPortGroupsChangesTheReportedStateAndStatusCode) {
    Harness h(ram(), alua_identity());
    for (std::uint8_t state : {kActiveNonOptimized, kStandby, kUnavailable, kActiveOptimized}) {
        expect_good(set_state(h, state));
        const Bytes b = bytes_of(h.run(rtpg(64)));
        EXPECT_EQ(b[4], state);
        EXPECT_EQ(b[9], 0x01);  // STATUS CODE: altered by SET TARGET PORT GROUPS
    }
}

TEST(Alua, ActiveNonOptimizedRunsEveryCommand) {
    Harness h(ram(), alua_identity());
    expect_good(set_state(h, kActiveNonOptimized));
    expect_good(h.run(kTur));
    expect_good(h.run(write10(0, 1), pattern(512, 1)));
    expect_good(h.run(read10(0, 1)));
}

TEST(Alua, StandbyRefusesMediaCommandsWithTargetPortInStandbyState) {
    Harness h(ram(), alua_identity());
    expect_good(set_state(h, kStandby));
    expect_sense(h.run(kTur), SenseKey::not_ready, 0x04, 0x0b);
    expect_sense(h.run(read10(0, 1)), SenseKey::not_ready, 0x04, 0x0b);
    expect_sense(h.run(write10(0, 1), pattern(512, 1)), SenseKey::not_ready, 0x04, 0x0b);
    expect_sense(h.run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}), SenseKey::not_ready, 0x04, 0x0b);  // READ CAPACITY(10)
}

TEST(Alua, StandbyRunsTheCommandsSpc4Allows) {
    Harness h(ram(), alua_identity());
    expect_good(set_state(h, kStandby));
    expect_the_always_allowed_commands_run(h);
    expect_good(h.run(kModeSense6));
    expect_good(h.run(kModeSelect6Empty));
    expect_good(h.run(kPrInReadKeys));
    // PERSISTENT RESERVE OUT REGISTER with a new key.
    const Bytes reg{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_good(h.run({0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24, 0}, reg));
    // Back to active/optimized, from the standby path itself.
    expect_good(set_state(h, kActiveOptimized));
    expect_good(h.run(read10(0, 1)));
}

TEST(Alua, UnavailableRefusesAllButItsShortListWithTargetPortInUnavailableState) {
    Harness h(ram(), alua_identity());
    expect_good(set_state(h, kUnavailable));
    expect_sense(h.run(kTur), SenseKey::not_ready, 0x04, 0x0c);
    expect_sense(h.run(read10(0, 1)), SenseKey::not_ready, 0x04, 0x0c);
    // Allowed in standby, not in unavailable (SPC-4 §5.15.2.4.5).
    expect_sense(h.run(kModeSense6), SenseKey::not_ready, 0x04, 0x0c);
    expect_sense(h.run(kModeSelect6Empty), SenseKey::not_ready, 0x04, 0x0c);
    expect_sense(h.run(kPrInReadKeys), SenseKey::not_ready, 0x04, 0x0c);

    expect_the_always_allowed_commands_run(h);
    EXPECT_EQ(reported_state(h), kUnavailable);
    expect_good(set_state(h, kActiveOptimized));
    expect_good(h.run(read10(0, 1)));
}

TEST(Alua, UnknownOpcodeInStandbyIsStillInvalidOpcode) {
    Harness h(ram(), alua_identity());
    expect_good(set_state(h, kStandby));
    expect_sense(h.run({0xff, 0, 0, 0, 0, 0}), SenseKey::illegal_request, 0x20, 0x00);
}

TEST(Alua, StateChangeIsAUnitAttentionForEveryOtherNexusOnly) {
    Harness h(ram(), alua_identity());
    h.clear_power_on(2);
    h.clear_power_on(3);
    expect_good(set_state(h, kActiveNonOptimized, 1));
    expect_good(h.run(kTur, {}, 1));  // the nexus that asked for it gets none
    for (std::uint64_t nexus : {2u, 3u}) {
        expect_sense(h.run(kTur, {}, nexus), SenseKey::unit_attention, 0x2a, 0x06);
        expect_good(h.run(kTur, {}, nexus));
    }
}

TEST(Alua, SettingTheCurrentStateAgainIsNoUnitAttention) {
    Harness h(ram(), alua_identity());
    h.clear_power_on(2);
    expect_good(set_state(h, kActiveOptimized, 1));
    expect_good(h.run(kTur, {}, 2));
}

TEST(Alua, StateIsSharedByEveryNexus) {
    Harness h(ram(), alua_identity());
    h.clear_power_on(2);
    expect_good(set_state(h, kStandby, 1));
    expect_sense(h.run(read10(0, 1), {}, 2), SenseKey::unit_attention, 0x2a, 0x06);
    expect_sense(h.run(read10(0, 1), {}, 2), SenseKey::not_ready, 0x04, 0x0b);
}

TEST(Alua, UnknownTargetPortGroupIsInvalidFieldInParameterList) {
    Harness h(ram(), alua_identity());
    const Bytes list = set_list({{kStandby, kGroup + 1}});
    expect_invalid_parameter_list_field(h.run(stpg(8), list), 6);
    EXPECT_EQ(reported_state(h), kActiveOptimized);
}

TEST(Alua, UnsupportedStateIsInvalidFieldInParameterList) {
    Harness h(ram(), alua_identity());
    // Logical block dependent, offline and transitioning, and reserved values, cannot be set.
    for (std::uint8_t state : {0x4, 0x5, 0xe, 0xf}) {
        const Bytes list = set_list({{state, kGroup}});
        const Command c = h.run(stpg(8), list);
        expect_invalid_parameter_list_field(c, 4);
        EXPECT_EQ(c.sense.bit_pointer, 3);
        EXPECT_EQ(reported_state(h), kActiveOptimized);
    }
}

TEST(Alua, ABadDescriptorChangesNothingFromTheGoodOnes) {
    Harness h(ram(), alua_identity());
    const Bytes list = set_list({{kStandby, kGroup}, {kStandby, kGroup + 1}});
    expect_invalid_parameter_list_field(h.run(stpg(12), list), 10);
    EXPECT_EQ(reported_state(h), kActiveOptimized);
}

TEST(Alua, ParameterListLengthZeroOrHeaderOnlyChangesNothing) {
    Harness h(ram(), alua_identity());
    expect_good(h.run(stpg(0)));
    expect_good(h.run(stpg(4), Bytes(4, 0)));
    EXPECT_EQ(reported_state(h), kActiveOptimized);
    EXPECT_EQ(bytes_of(h.run(rtpg(64)))[9], 0x00);  // STATUS CODE: nothing has altered it
}

TEST(Alua, ParameterListCuttingADescriptorIsParameterListLengthError) {
    Harness h(ram(), alua_identity());
    const Bytes list = set_list({{kStandby, kGroup}});
    for (std::uint32_t n : {2u, 6u, 7u}) {
        expect_sense(h.run(stpg(n), Bytes(list.begin(), list.begin() + n)), SenseKey::illegal_request, 0x1a, 0x00);
        EXPECT_EQ(reported_state(h), kActiveOptimized);
    }
}

TEST(Alua, ReportIsAllowedAndSetConflictsUnderAnotherNexussReservation) {
    Harness h(ram(), alua_identity());
    h.clear_power_on(2);
    expect_good(h.run(kReserve6, {}, 2));
    expect_good(h.run(rtpg(64), {}, 1));
    EXPECT_EQ(set_state(h, kStandby, 1).status, Status::reservation_conflict);
    EXPECT_EQ(reported_state(h), kActiveOptimized);
}

TEST(Alua, AnImplicitChangeIsAUnitAttentionForEveryNexusWithStatusCode02h) {
    Harness h(ram(), alua_identity());
    h.clear_power_on(2);
    h.lu->set_access_state(AccessState::standby);
    EXPECT_EQ(h.lu->access_state(), AccessState::standby);
    for (std::uint64_t nexus : {1u, 2u}) {
        expect_sense(h.run(kTur, {}, nexus), SenseKey::unit_attention, 0x2a, 0x06);
        expect_sense(h.run(kTur, {}, nexus), SenseKey::not_ready, 0x04, 0x0b);
    }
    const Bytes b = bytes_of(h.run(rtpg(64)));
    EXPECT_EQ(b[4], kStandby);
    EXPECT_EQ(b[9], 0x02);  // STATUS CODE: altered by implicit asymmetric logical unit access
    h.lu->set_access_state(AccessState::standby);
    expect_sense(h.run(kTur, {}, 2), SenseKey::not_ready, 0x04, 0x0b);  // no change, no unit attention
}

TEST(Alua, StateNamesRoundTrip) {
    for (AccessState s : {AccessState::active_optimized, AccessState::active_non_optimized, AccessState::standby,
                          AccessState::unavailable})
        EXPECT_EQ(parse_access_state(access_state_name(s)), s);
    EXPECT_EQ(access_state_name(AccessState::active_non_optimized), "active/non-optimized");
    EXPECT_FALSE(parse_access_state("offline").has_value());
}

TEST(Alua, LogicalUnitResetKeepsTheState) {
    Harness h(ram(), alua_identity());
    expect_good(set_state(h, kStandby));
    h.lu->reset();
    expect_sense(h.run(kTur), SenseKey::unit_attention, 0x29, 0x03);
    EXPECT_EQ(reported_state(h), kStandby);
}

}  // namespace
}  // namespace iscsikit::scsi::test
