// The RFC 7143 §13 key table and both negotiators.
#include "iscsi/params.hpp"

#include <gtest/gtest.h>

namespace iscsikit::iscsi {
namespace {

constexpr std::string_view kInitiator = "iqn.1994-05.com.redhat:client";
constexpr std::string_view kTarget = "iqn.2024-01.org.iscsikit:disk1";

// Runs one request through the negotiator and returns the answers, expecting success.
TextPairs answer(TargetNegotiator& t, const TextPairs& offered, bool security_stage = false) {
    TextPairs answers;
    EXPECT_EQ(t.respond(offered, security_stage, answers), NegotiationFailure::none);
    return answers;
}

NegotiationFailure failure_of(TargetNegotiator& t, const TextPairs& offered, bool security_stage = false) {
    TextPairs answers;
    return t.respond(offered, security_stage, answers);
}

// A target past a normal session's security stage.
TargetNegotiator normal_target(LocalLimits limits = {}, bool leading = true) {
    TargetNegotiator t(std::move(limits), leading);
    answer(t,
           {{"InitiatorName", std::string(kInitiator)},
            {"TargetName", std::string(kTarget)},
            {"SessionType", "Normal"},
            {"AuthMethod", "None"}},
           true);
    return t;
}

// ---- the table ----

TEST(KeyTable, HasEveryRfc7143Key) {
    for (std::string_view name : {"HeaderDigest",
                                  "DataDigest",
                                  "MaxConnections",
                                  "SendTargets",
                                  "TargetName",
                                  "InitiatorName",
                                  "TargetAlias",
                                  "InitiatorAlias",
                                  "TargetAddress",
                                  "TargetPortalGroupTag",
                                  "InitialR2T",
                                  "ImmediateData",
                                  "MaxRecvDataSegmentLength",
                                  "MaxBurstLength",
                                  "FirstBurstLength",
                                  "DefaultTime2Wait",
                                  "DefaultTime2Retain",
                                  "MaxOutstandingR2T",
                                  "DataPDUInOrder",
                                  "DataSequenceInOrder",
                                  "ErrorRecoveryLevel",
                                  "SessionType",
                                  "TaskReporting",
                                  "iSCSIProtocolLevel",
                                  "OFMarker",
                                  "IFMarker",
                                  "OFMarkInt",
                                  "IFMarkInt",
                                  "AuthMethod",
                                  "CHAP_A",
                                  "CHAP_I",
                                  "CHAP_C",
                                  "CHAP_N",
                                  "CHAP_R"}) {
        EXPECT_NE(find_key(name), nullptr) << name;
    }
    EXPECT_EQ(find_key("maxburstlength"), nullptr);  // names are case-sensitive
    EXPECT_EQ(find_key("X-com.example.key"), nullptr);
}

TEST(KeyTable, RowsCarryTheRfcRules) {
    const KeyDef* mbl = find_key("MaxBurstLength");
    ASSERT_NE(mbl, nullptr);
    EXPECT_EQ(mbl->rule, KeyRule::numeric_min);
    EXPECT_EQ(mbl->phase, KeyPhase::leading_only);
    EXPECT_EQ(mbl->default_value, "262144");
    EXPECT_EQ(mbl->min, 512u);
    EXPECT_EQ(mbl->max, 16777215u);
    EXPECT_FALSE(mbl->discovery);
    EXPECT_EQ(find_key("DefaultTime2Wait")->rule, KeyRule::numeric_max);
    EXPECT_TRUE(find_key("DefaultTime2Wait")->discovery);
    EXPECT_EQ(find_key("InitialR2T")->rule, KeyRule::boolean_or);
    EXPECT_EQ(find_key("ImmediateData")->rule, KeyRule::boolean_and);
    EXPECT_EQ(find_key("HeaderDigest")->scope, KeyScope::connection);
    EXPECT_EQ(find_key("TargetPortalGroupTag")->sender, KeySender::target);
    EXPECT_EQ(find_key("ErrorRecoveryLevel")->max, 2u);
    EXPECT_TRUE(find_key("CHAP_R")->security_stage);
    EXPECT_EQ(find_key("CHAP_R")->phase, KeyPhase::security_only);
    EXPECT_FALSE(find_key("MaxRecvDataSegmentLength")->security_stage);
}

TEST(KeyTable, ExtensionKeys) {
    EXPECT_TRUE(is_extension_key("X-com.example.feature"));
    EXPECT_TRUE(is_extension_key("X#NodeArchitecture"));
    EXPECT_FALSE(is_extension_key("X-"));
    EXPECT_FALSE(is_extension_key("XY"));
}

TEST(NumericValue, DecimalAndHex) {
    EXPECT_EQ(parse_numeric_value("0"), 0u);
    EXPECT_EQ(parse_numeric_value("8192"), 8192u);
    EXPECT_EQ(parse_numeric_value("0x2000"), 0x2000u);
    EXPECT_EQ(parse_numeric_value("0X2aBc"), 0x2abcu);
    EXPECT_EQ(parse_numeric_value("18446744073709551615"), 18446744073709551615u);
    EXPECT_EQ(parse_numeric_value("0xffffffffffffffff"), 0xffffffffffffffffu);
}

TEST(NumericValue, RejectsWhatIsNotANumber) {
    for (std::string_view bad :
         {"", "0x", "-1", "+1", " 1", "1 ", "12a", "0x1g", "18446744073709551616", "0x10000000000000000", "Yes"}) {
        EXPECT_FALSE(parse_numeric_value(bad)) << bad;
    }
}

// ---- target: security stage ----

TEST(TargetNegotiator, SecurityStageAnswersAuthMethodAndRecordsNames) {
    TargetNegotiator t({}, true);
    auto answers = answer(t,
                          {{"InitiatorName", std::string(kInitiator)},
                           {"InitiatorAlias", "client"},
                           {"TargetName", std::string(kTarget)},
                           {"SessionType", "Normal"},
                           {"AuthMethod", "CHAP,None"}},
                          true);
    EXPECT_EQ(answers, (TextPairs{{"AuthMethod", "None"}}));  // §6.2: declarations get no answer
    EXPECT_EQ(t.auth_method(), "None");
    EXPECT_EQ(t.params().initiator_name, kInitiator);
    EXPECT_EQ(t.params().initiator_alias, "client");
    EXPECT_EQ(t.params().target_name, kTarget);
    EXPECT_FALSE(t.params().discovery);
    EXPECT_EQ(t.offered_value("SessionType"), "Normal");
    EXPECT_EQ(t.offered_value("MaxBurstLength"), std::nullopt);
    EXPECT_EQ(t.check_complete(), NegotiationFailure::none);
}

TEST(TargetNegotiator, AuthMethodWeDoNotSupportIsRejected) {
    TargetNegotiator t({}, true);
    EXPECT_EQ(answer(t, {{"AuthMethod", "CHAP"}}, true), (TextPairs{{"AuthMethod", "Reject"}}));
    EXPECT_EQ(t.auth_method(), "");
}

TEST(TargetNegotiator, AuthMethodFollowsTheInitiatorsOrder) {
    LocalLimits limits;
    limits.auth_methods = {"None", "CHAP"};
    TargetNegotiator t(limits, true);
    EXPECT_EQ(answer(t, {{"AuthMethod", "KRB5,CHAP,None"}}, true), (TextPairs{{"AuthMethod", "CHAP"}}));
    EXPECT_EQ(t.auth_method(), "CHAP");
}

TEST(TargetNegotiator, ChapKeysAreLeftToTheAuthenticator) {
    LocalLimits limits;
    limits.auth_methods = {"CHAP"};
    TargetNegotiator t(limits, true);
    answer(t, {{"AuthMethod", "CHAP"}}, true);
    EXPECT_TRUE(answer(t, {{"CHAP_A", "5"}}, true).empty());
    EXPECT_EQ(t.offered_value("CHAP_A"), "5");
}

TEST(TargetNegotiator, OperationalKeyInSecurityStageFails) {
    TargetNegotiator t({}, true);
    EXPECT_EQ(failure_of(t, {{"MaxBurstLength", "65536"}}, true), NegotiationFailure::key_in_wrong_phase);
}

TEST(TargetNegotiator, SecurityKeyAfterSecurityStageFails) {
    auto t = normal_target();
    EXPECT_EQ(failure_of(t, {{"CHAP_A", "5"}}), NegotiationFailure::key_in_wrong_phase);
    auto u = normal_target();
    EXPECT_EQ(failure_of(u, {{"AuthMethod", "None"}}), NegotiationFailure::key_in_wrong_phase);
}

TEST(TargetNegotiator, SendTargetsDuringLoginFails) {
    auto t = normal_target();
    EXPECT_EQ(failure_of(t, {{"SendTargets", "All"}}), NegotiationFailure::key_in_wrong_phase);
}

// ---- target: operational stage ----

TEST(TargetNegotiator, OpenIscsiStyleOperationalOffer) {
    auto t = normal_target();
    auto answers = answer(t, {{"HeaderDigest", "None"},
                              {"DataDigest", "None"},
                              {"MaxConnections", "1"},
                              {"InitialR2T", "No"},
                              {"ImmediateData", "Yes"},
                              {"MaxRecvDataSegmentLength", "262144"},
                              {"MaxBurstLength", "16776192"},
                              {"FirstBurstLength", "262144"},
                              {"DefaultTime2Wait", "2"},
                              {"DefaultTime2Retain", "0"},
                              {"MaxOutstandingR2T", "1"},
                              {"DataPDUInOrder", "Yes"},
                              {"DataSequenceInOrder", "Yes"},
                              {"ErrorRecoveryLevel", "0"},
                              {"IFMarker", "No"},
                              {"OFMarker", "No"}});
    EXPECT_EQ(answers, (TextPairs{{"HeaderDigest", "None"},
                                  {"DataDigest", "None"},
                                  {"MaxConnections", "1"},
                                  {"InitialR2T", "No"},
                                  {"ImmediateData", "Yes"},
                                  {"MaxBurstLength", "1048576"},
                                  {"FirstBurstLength", "262144"},
                                  {"DefaultTime2Wait", "2"},
                                  {"DefaultTime2Retain", "0"},
                                  {"MaxOutstandingR2T", "1"},
                                  {"DataPDUInOrder", "Yes"},
                                  {"DataSequenceInOrder", "Yes"},
                                  {"ErrorRecoveryLevel", "0"},
                                  {"IFMarker", "No"},
                                  {"OFMarker", "No"}}));
    const SessionParams& p = t.params();
    EXPECT_FALSE(p.header_digest);
    EXPECT_FALSE(p.initial_r2t);
    EXPECT_TRUE(p.immediate_data);
    EXPECT_EQ(p.max_burst_length, 1048576u);
    EXPECT_EQ(p.first_burst_length, 262144u);
    EXPECT_EQ(p.default_time2retain, 0u);
    EXPECT_EQ(p.initiator_max_recv_data_segment_length, 262144u);
    EXPECT_EQ(p.target_max_recv_data_segment_length, 8192u);  // not declared yet
}

TEST(TargetNegotiator, NumericMinTakesTheSmallerValue) {
    auto t = normal_target();
    EXPECT_EQ(answer(t, {{"MaxBurstLength", "0x4000"}, {"MaxConnections", "8"}, {"ErrorRecoveryLevel", "2"}}),
              (TextPairs{{"MaxBurstLength", "16384"}, {"MaxConnections", "1"}, {"ErrorRecoveryLevel", "0"}}));
    EXPECT_EQ(t.params().max_burst_length, 16384u);
    EXPECT_EQ(t.params().first_burst_length, 16384u);  // §13.14: clamped under MaxBurstLength
    EXPECT_EQ(t.params().error_recovery_level, 0u);
}

TEST(TargetNegotiator, NumericMaxTakesTheLargerValue) {
    auto t = normal_target();
    EXPECT_EQ(answer(t, {{"DefaultTime2Wait", "0"}}), (TextPairs{{"DefaultTime2Wait", "2"}}));
    auto u = normal_target();
    EXPECT_EQ(answer(u, {{"DefaultTime2Wait", "10"}}), (TextPairs{{"DefaultTime2Wait", "10"}}));
    EXPECT_EQ(u.params().default_time2wait, 10u);
}

TEST(TargetNegotiator, OutOfRangeOrMalformedValuesAreRejected) {
    auto t = normal_target();
    EXPECT_EQ(answer(t, {{"MaxBurstLength", "511"},
                         {"MaxOutstandingR2T", "0"},
                         {"ErrorRecoveryLevel", "3"},
                         {"DefaultTime2Retain", "3601"},
                         {"MaxConnections", "lots"},
                         {"InitialR2T", "yes"},
                         {"HeaderDigest", "MD5"}}),
              (TextPairs{{"MaxBurstLength", "Reject"},
                         {"MaxOutstandingR2T", "Reject"},
                         {"ErrorRecoveryLevel", "Reject"},
                         {"DefaultTime2Retain", "Reject"},
                         {"MaxConnections", "Reject"},
                         {"InitialR2T", "Reject"},
                         {"HeaderDigest", "Reject"}}));
    EXPECT_EQ(t.params().max_burst_length, 262144u);  // the RFC default stays
    EXPECT_TRUE(t.params().initial_r2t);
}

TEST(TargetNegotiator, BooleanFunctions) {
    LocalLimits limits;
    limits.immediate_data = false;
    limits.initial_r2t = true;
    auto t = normal_target(limits);
    EXPECT_EQ(
        answer(
            t,
            {{"InitialR2T", "No"}, {"ImmediateData", "Yes"}, {"DataPDUInOrder", "No"}, {"DataSequenceInOrder", "No"}}),
        (TextPairs{{"InitialR2T", "Yes"},
                   {"ImmediateData", "No"},
                   {"DataPDUInOrder", "Yes"},
                   {"DataSequenceInOrder", "Yes"}}));
    EXPECT_TRUE(t.params().initial_r2t);
    EXPECT_FALSE(t.params().immediate_data);
    EXPECT_TRUE(t.params().data_pdu_in_order);
}

TEST(TargetNegotiator, DigestsPickTheFirstSupportedValue) {
    auto t = normal_target();
    EXPECT_EQ(answer(t, {{"HeaderDigest", "CRC32C,None"}, {"DataDigest", "None,CRC32C"}}),
              (TextPairs{{"HeaderDigest", "CRC32C"}, {"DataDigest", "None"}}));
    EXPECT_TRUE(t.params().header_digest);
    EXPECT_FALSE(t.params().data_digest);

    LocalLimits no_digests;
    no_digests.allow_header_digest = false;
    no_digests.allow_data_digest = false;
    auto u = normal_target(no_digests);
    EXPECT_EQ(answer(u, {{"HeaderDigest", "CRC32C,None"}, {"DataDigest", "CRC32C"}}),
              (TextPairs{{"HeaderDigest", "None"}, {"DataDigest", "Reject"}}));
    EXPECT_FALSE(u.params().header_digest);
}

TEST(TargetNegotiator, FirstBurstLengthNeverExceedsMaxBurstLength) {
    auto t = normal_target();
    // FirstBurstLength comes first; the answer still respects the MaxBurstLength after it.
    EXPECT_EQ(answer(t, {{"FirstBurstLength", "262144"}, {"MaxBurstLength", "65536"}}),
              (TextPairs{{"FirstBurstLength", "65536"}, {"MaxBurstLength", "65536"}}));
    EXPECT_EQ(t.params().first_burst_length, 65536u);
    EXPECT_EQ(t.params().max_burst_length, 65536u);
}

TEST(TargetNegotiator, FirstBurstLengthIrrelevantWithoutUnsolicitedData) {
    auto t = normal_target();
    EXPECT_EQ(answer(t, {{"InitialR2T", "Yes"}, {"ImmediateData", "No"}, {"FirstBurstLength", "65536"}}),
              (TextPairs{{"InitialR2T", "Yes"}, {"ImmediateData", "No"}, {"FirstBurstLength", "Irrelevant"}}));
}

TEST(TargetNegotiator, ObsoleteMarkerKeys) {
    auto t = normal_target();
    EXPECT_EQ(answer(t, {{"OFMarker", "Yes"}, {"IFMarker", "Yes"}, {"OFMarkInt", "2048~8192"}, {"IFMarkInt", "1"}}),
              (TextPairs{{"OFMarker", "No"}, {"IFMarker", "No"}, {"OFMarkInt", "Reject"}, {"IFMarkInt", "Reject"}}));
}

TEST(TargetNegotiator, TaskReportingAndProtocolLevel) {
    auto t = normal_target();
    EXPECT_EQ(answer(t, {{"TaskReporting", "FastAbort,RFC3720"}, {"iSCSIProtocolLevel", "2"}}),
              (TextPairs{{"TaskReporting", "RFC3720"}, {"iSCSIProtocolLevel", "1"}}));
    auto u = normal_target();
    EXPECT_EQ(answer(u, {{"TaskReporting", "ResponseFence"}, {"iSCSIProtocolLevel", "32"}}),
              (TextPairs{{"TaskReporting", "Reject"}, {"iSCSIProtocolLevel", "Reject"}}));
}

TEST(TargetNegotiator, UnknownAndExtensionKeysAreNotUnderstood) {
    auto t = normal_target();
    EXPECT_EQ(answer(t, {{"FooBar", "1"}, {"X-com.example.feature", "Yes"}, {"X#NodeArchitecture", "Linux"}}),
              (TextPairs{{"FooBar", "NotUnderstood"},
                         {"X-com.example.feature", "NotUnderstood"},
                         {"X#NodeArchitecture", "NotUnderstood"}}));
}

TEST(TargetNegotiator, MaxRecvDataSegmentLengthIsADeclaration) {
    auto t = normal_target();
    EXPECT_TRUE(answer(t, {{"MaxRecvDataSegmentLength", "0x10000"}}).empty());
    EXPECT_EQ(t.params().initiator_max_recv_data_segment_length, 65536u);
    auto u = normal_target();
    EXPECT_EQ(failure_of(u, {{"MaxRecvDataSegmentLength", "511"}}), NegotiationFailure::invalid_value);
    auto v = normal_target();
    EXPECT_EQ(failure_of(v, {{"MaxRecvDataSegmentLength", "16777216"}}), NegotiationFailure::invalid_value);
}

// ---- target: discovery, session type, senders, phases ----

TEST(TargetNegotiator, DiscoverySessionAnswersSessionKeysIrrelevant) {
    TargetNegotiator d({}, true);
    answer(d, {{"InitiatorName", std::string(kInitiator)}, {"SessionType", "Discovery"}}, true);
    EXPECT_EQ(answer(d, {{"MaxBurstLength", "65536"},
                         {"InitialR2T", "No"},
                         {"MaxConnections", "1"},
                         {"DefaultTime2Wait", "2"},
                         {"ErrorRecoveryLevel", "0"},
                         {"HeaderDigest", "None"},
                         {"TaskReporting", "RFC3720"}}),
              (TextPairs{{"MaxBurstLength", "Irrelevant"},
                         {"InitialR2T", "Irrelevant"},
                         {"MaxConnections", "Irrelevant"},
                         {"DefaultTime2Wait", "2"},
                         {"ErrorRecoveryLevel", "0"},
                         {"HeaderDigest", "None"},
                         {"TaskReporting", "Irrelevant"}}));
    EXPECT_TRUE(d.params().discovery);
    EXPECT_EQ(d.params().max_burst_length, 262144u);
    EXPECT_EQ(d.check_complete(), NegotiationFailure::none);  // no TargetName needed
}

TEST(TargetNegotiator, DiscoveryTypeDecidesIrrelevanceWithinOneRequest) {
    TargetNegotiator t({}, true);
    EXPECT_EQ(answer(t, {{"MaxBurstLength", "65536"}, {"SessionType", "Discovery"}, {"InitiatorName", "iqn.x"}}),
              (TextPairs{{"MaxBurstLength", "Irrelevant"}}));
}

TEST(TargetNegotiator, UnknownSessionTypeIsNotSupported) {
    TargetNegotiator t({}, true);
    EXPECT_EQ(failure_of(t, {{"InitiatorName", "iqn.x"}, {"SessionType", "Boot"}}, true),
              NegotiationFailure::session_type_not_supported);
}

TEST(TargetNegotiator, MissingNamesAreReportedWhenLoginEnds) {
    TargetNegotiator t({}, true);
    answer(t, {{"SessionType", "Normal"}}, true);
    EXPECT_EQ(t.check_complete(), NegotiationFailure::missing_parameter);
    answer(t, {{"InitiatorName", std::string(kInitiator)}}, true);
    EXPECT_EQ(t.check_complete(), NegotiationFailure::missing_parameter);  // normal session, no TargetName
    answer(t, {{"TargetName", std::string(kTarget)}}, true);
    EXPECT_EQ(t.check_complete(), NegotiationFailure::none);
}

TEST(TargetNegotiator, EmptyOrOverlongNamesAreInvalid) {
    TargetNegotiator t({}, true);
    EXPECT_EQ(failure_of(t, {{"InitiatorName", ""}}, true), NegotiationFailure::invalid_value);
    TargetNegotiator u({}, true);
    EXPECT_EQ(failure_of(u, {{"TargetName", "iqn." + std::string(220, 'a')}}, true), NegotiationFailure::invalid_value);
}

TEST(TargetNegotiator, TargetOnlyKeysFromTheInitiatorAreAProtocolError) {
    for (std::string_view key : {"TargetAlias", "TargetAddress", "TargetPortalGroupTag"}) {
        TargetNegotiator t({}, true);
        EXPECT_EQ(failure_of(t, {{std::string(key), "1"}}, true), NegotiationFailure::protocol_error) << key;
    }
}

TEST(TargetNegotiator, RepeatingAKeyWithTheSameValueIsTolerated) {
    auto t = normal_target();
    // libiscsi resends the names in the operational stage after AuthMethod=None.
    EXPECT_TRUE(answer(t, {{"InitiatorName", std::string(kInitiator)}, {"SessionType", "Normal"}}).empty());
    EXPECT_EQ(answer(t, {{"MaxBurstLength", "65536"}}), (TextPairs{{"MaxBurstLength", "65536"}}));
    EXPECT_EQ(answer(t, {{"MaxBurstLength", "65536"}}), (TextPairs{{"MaxBurstLength", "65536"}}));
}

TEST(TargetNegotiator, RedeclaringAKeyWithAnotherValueIsAProtocolError) {
    auto t = normal_target();
    EXPECT_EQ(failure_of(t, {{"InitiatorName", "iqn.someone-else"}}), NegotiationFailure::protocol_error);
    auto u = normal_target();
    answer(u, {{"MaxBurstLength", "65536"}});
    EXPECT_EQ(failure_of(u, {{"MaxBurstLength", "131072"}}), NegotiationFailure::protocol_error);
}

TEST(TargetNegotiator, LeadingOnlyKeysFailOnAnotherConnection) {
    TargetNegotiator t({}, false);
    answer(t, {{"InitiatorName", std::string(kInitiator)}, {"TargetName", std::string(kTarget)}}, true);
    EXPECT_EQ(answer(t, {{"HeaderDigest", "CRC32C"}, {"MaxRecvDataSegmentLength", "65536"}}),
              (TextPairs{{"HeaderDigest", "CRC32C"}}));
    EXPECT_EQ(failure_of(t, {{"MaxBurstLength", "65536"}}), NegotiationFailure::key_in_wrong_phase);
    TargetNegotiator u({}, false);
    EXPECT_EQ(failure_of(u, {{"SessionType", "Normal"}}, true), NegotiationFailure::key_in_wrong_phase);
}

// ---- target: declarations and offers ----

TEST(TargetNegotiator, DeclaresTargetKeysOnce) {
    LocalLimits limits;
    limits.target_alias = "disk one";
    auto t = normal_target(limits);
    TextPairs answers;
    t.declare_target_keys(7, answers);
    EXPECT_EQ(answers,
              (TextPairs{
                  {"TargetPortalGroupTag", "7"}, {"TargetAlias", "disk one"}, {"MaxRecvDataSegmentLength", "262144"}}));
    EXPECT_EQ(t.params().target_max_recv_data_segment_length, 262144u);
    EXPECT_EQ(t.params().target_alias, "disk one");
    EXPECT_FALSE(t.awaiting_answers());
    TextPairs again;
    t.declare_target_keys(7, again);
    EXPECT_TRUE(again.empty());
}

TEST(TargetNegotiator, SecurityStageDeclaresOnlyAnyStageKeys) {
    LocalLimits limits;
    limits.target_alias = "disk one";
    limits.max_burst_length = 65536;
    TargetNegotiator t(limits, true);
    TextPairs answers = answer(
        t, {{"InitiatorName", std::string(kInitiator)}, {"TargetName", std::string(kTarget)}, {"AuthMethod", "None"}},
        true);
    t.declare_target_keys(3, answers, true);
    EXPECT_EQ(answers, (TextPairs{{"AuthMethod", "None"}, {"TargetPortalGroupTag", "3"}, {"TargetAlias", "disk one"}}));
    TextPairs later;
    t.declare_target_keys(3, later);
    EXPECT_EQ(later, (TextPairs{{"MaxRecvDataSegmentLength", "262144"}, {"MaxBurstLength", "65536"}}));
}

TEST(TargetNegotiator, DiscoveryWithoutTargetNameDeclaresOnlyMaxRecvDataSegmentLength) {
    LocalLimits limits;
    limits.target_alias = "disk one";
    limits.max_recv_data_segment_length = 100;  // pulled up into the §13.12 range
    TargetNegotiator t(limits, true);
    answer(t, {{"InitiatorName", std::string(kInitiator)}, {"SessionType", "Discovery"}}, true);
    TextPairs answers;
    t.declare_target_keys(1, answers);
    EXPECT_EQ(answers, (TextPairs{{"MaxRecvDataSegmentLength", "512"}}));
}

TEST(TargetNegotiator, OffersStricterLimitsTheInitiatorDidNotNegotiate) {
    LocalLimits limits;
    limits.max_burst_length = 65536;
    limits.first_burst_length = 16384;
    limits.immediate_data = false;
    auto t = normal_target(limits);
    answer(t, {{"MaxOutstandingR2T", "1"}});
    TextPairs answers;
    t.declare_target_keys(1, answers);
    EXPECT_EQ(answers, (TextPairs{{"TargetPortalGroupTag", "1"},
                                  {"MaxRecvDataSegmentLength", "262144"},
                                  {"ImmediateData", "No"},
                                  {"MaxBurstLength", "65536"},
                                  {"FirstBurstLength", "16384"}}));
    EXPECT_TRUE(t.awaiting_answers());
    // The initiator's next request answers our offers; they get no answer back.
    EXPECT_TRUE(
        answer(t, {{"ImmediateData", "No"}, {"MaxBurstLength", "65536"}, {"FirstBurstLength", "8192"}}).empty());
    EXPECT_FALSE(t.awaiting_answers());
    EXPECT_FALSE(t.params().immediate_data);
    EXPECT_EQ(t.params().max_burst_length, 65536u);
    EXPECT_EQ(t.params().first_burst_length, 8192u);
}

TEST(TargetNegotiator, RejectedOfferLeavesTheDefault) {
    LocalLimits limits;
    limits.default_time2retain = 5;
    auto t = normal_target(limits);
    TextPairs answers;
    t.declare_target_keys(1, answers);
    ASSERT_EQ(answers.back(), (TextPair{"DefaultTime2Retain", "5"}));
    EXPECT_TRUE(answer(t, {{"DefaultTime2Retain", "Reject"}}).empty());
    EXPECT_EQ(t.params().default_time2retain, 20u);
}

// ---- initiator ----

TEST(InitiatorNegotiator, OperationalOfferOfALeadingNormalConnection) {
    LocalLimits limits;
    limits.allow_data_digest = false;
    InitiatorNegotiator i(limits);
    EXPECT_EQ(i.operational_offer(), (TextPairs{{"HeaderDigest", "CRC32C,None"},
                                                {"DataDigest", "None"},
                                                {"MaxConnections", "1"},
                                                {"InitialR2T", "No"},
                                                {"ImmediateData", "Yes"},
                                                {"MaxBurstLength", "1048576"},
                                                {"FirstBurstLength", "262144"},
                                                {"DefaultTime2Wait", "2"},
                                                {"DefaultTime2Retain", "20"},
                                                {"MaxOutstandingR2T", "1"},
                                                {"DataPDUInOrder", "Yes"},
                                                {"DataSequenceInOrder", "Yes"},
                                                {"ErrorRecoveryLevel", "0"},
                                                {"MaxRecvDataSegmentLength", "262144"}}));
}

TEST(InitiatorNegotiator, DiscoveryAndSecondaryConnectionsOfferLess) {
    InitiatorNegotiator discovery({}, true);
    EXPECT_EQ(discovery.operational_offer(), (TextPairs{{"HeaderDigest", "CRC32C,None"},
                                                        {"DataDigest", "CRC32C,None"},
                                                        {"DefaultTime2Wait", "2"},
                                                        {"DefaultTime2Retain", "20"},
                                                        {"ErrorRecoveryLevel", "0"},
                                                        {"MaxRecvDataSegmentLength", "262144"}}));
    InitiatorNegotiator secondary({}, false, false);
    EXPECT_EQ(secondary.operational_offer(), (TextPairs{{"HeaderDigest", "CRC32C,None"},
                                                        {"DataDigest", "CRC32C,None"},
                                                        {"MaxRecvDataSegmentLength", "262144"}}));
}

TEST(InitiatorNegotiator, SettlesWithOurTargetNegotiator) {
    LocalLimits initiator_limits;
    initiator_limits.max_burst_length = 131072;
    initiator_limits.max_recv_data_segment_length = 65536;
    initiator_limits.allow_data_digest = false;
    LocalLimits target_limits;
    target_limits.first_burst_length = 32768;
    target_limits.max_recv_data_segment_length = 131072;

    InitiatorNegotiator i(initiator_limits);
    auto t = normal_target(target_limits);
    TextPairs answers;
    ASSERT_EQ(t.respond(i.operational_offer(), false, answers), NegotiationFailure::none);
    t.declare_target_keys(1, answers);
    ASSERT_EQ(i.apply_answers(answers), NegotiationFailure::none);
    EXPECT_TRUE(i.take_replies().empty());

    const SessionParams& a = i.params();
    const SessionParams& b = t.params();
    EXPECT_TRUE(a.header_digest);
    EXPECT_FALSE(a.data_digest);
    EXPECT_EQ(a.max_burst_length, 131072u);
    EXPECT_EQ(a.first_burst_length, 32768u);
    EXPECT_FALSE(a.initial_r2t);
    EXPECT_TRUE(a.immediate_data);
    EXPECT_EQ(a.initiator_max_recv_data_segment_length, 65536u);
    EXPECT_EQ(a.target_max_recv_data_segment_length, 131072u);
    for (const SessionParams* p : {&a, &b}) {
        EXPECT_EQ(p->header_digest, a.header_digest);
        EXPECT_EQ(p->data_digest, a.data_digest);
        EXPECT_EQ(p->max_connections, a.max_connections);
        EXPECT_EQ(p->initial_r2t, a.initial_r2t);
        EXPECT_EQ(p->immediate_data, a.immediate_data);
        EXPECT_EQ(p->max_burst_length, a.max_burst_length);
        EXPECT_EQ(p->first_burst_length, a.first_burst_length);
        EXPECT_EQ(p->default_time2wait, a.default_time2wait);
        EXPECT_EQ(p->default_time2retain, a.default_time2retain);
        EXPECT_EQ(p->max_outstanding_r2t, a.max_outstanding_r2t);
        EXPECT_EQ(p->error_recovery_level, a.error_recovery_level);
        EXPECT_EQ(p->initiator_max_recv_data_segment_length, a.initiator_max_recv_data_segment_length);
        EXPECT_EQ(p->target_max_recv_data_segment_length, a.target_max_recv_data_segment_length);
    }
}

TEST(InitiatorNegotiator, AnswerOutsideTheRuleFails) {
    InitiatorNegotiator i({});
    EXPECT_EQ(i.apply_answers({{"MaxBurstLength", "2097152"}}), NegotiationFailure::invalid_value);  // above our offer
    InitiatorNegotiator j({});
    EXPECT_EQ(j.apply_answers({{"HeaderDigest", "MD5"}}), NegotiationFailure::invalid_value);
    InitiatorNegotiator k({});
    EXPECT_EQ(k.apply_answers({{"DataPDUInOrder", "No"}}), NegotiationFailure::invalid_value);  // OR with our Yes
    InitiatorNegotiator l({});
    EXPECT_EQ(l.apply_answers({{"MaxRecvDataSegmentLength", "100"}}), NegotiationFailure::invalid_value);
    InitiatorNegotiator m({});
    EXPECT_EQ(m.apply_answers({{"InitiatorName", "iqn.x"}}), NegotiationFailure::protocol_error);
}

TEST(InitiatorNegotiator, ConstantAnswersKeepTheDefault) {
    InitiatorNegotiator i({});
    EXPECT_EQ(
        i.apply_answers(
            {{"MaxBurstLength", "Reject"}, {"InitialR2T", "Irrelevant"}, {"ErrorRecoveryLevel", "NotUnderstood"}}),
        NegotiationFailure::none);
    EXPECT_EQ(i.params().max_burst_length, 262144u);
    EXPECT_TRUE(i.params().initial_r2t);
}

TEST(InitiatorNegotiator, AnswersKeysTheTargetOffers) {
    InitiatorNegotiator i({}, false, false);  // offers no leading-only keys
    EXPECT_EQ(
        i.apply_answers(
            {{"MaxBurstLength", "65536"}, {"TaskReporting", "RFC3720"}, {"X-vendor.k", "1"}, {"TargetAlias", "disk"}}),
        NegotiationFailure::none);
    EXPECT_EQ(i.take_replies(),
              (TextPairs{
                  {"MaxBurstLength", "Irrelevant"}, {"TaskReporting", "Irrelevant"}, {"X-vendor.k", "NotUnderstood"}}));
    EXPECT_TRUE(i.take_replies().empty());
    EXPECT_EQ(i.params().target_alias, "disk");

    InitiatorNegotiator leading({});
    EXPECT_EQ(leading.apply_answers({{"iSCSIProtocolLevel", "2"}, {"TaskReporting", "FastAbort,RFC3720"}}),
              NegotiationFailure::none);
    EXPECT_EQ(leading.take_replies(), (TextPairs{{"iSCSIProtocolLevel", "1"}, {"TaskReporting", "RFC3720"}}));
}

}  // namespace
}  // namespace iscsikit::iscsi
