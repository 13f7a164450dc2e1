// The RFC 7143 §13 login/text keys as one table (STYLE.md rule 3), and the negotiation engine both
// roles consult. A key's row says its type, rule, default, range, phase and scope; adding a key is
// one row.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iscsi/text.hpp"

namespace iscsikit::iscsi {

enum class Role : std::uint8_t { initiator, target };

// How a key's value is settled (RFC 7143 §5.2, §6.2).
enum class KeyRule : std::uint8_t {
    declarative,     // each side declares its own value; nothing is answered to a declaration
    boolean_and,     // result = offered AND ours ("No" wins)
    boolean_or,      // result = offered OR ours ("Yes" wins)
    numeric_min,     // result = min(offered, ours)
    numeric_max,     // result = max(offered, ours)
    list,            // ours = first value in the offered list that we support
    authentication,  // carried by the authentication exchange (CHAP_*, §12.1.3), never answered here
    obsolete,        // §13.25: OFMarker/IFMarker answered "No", OFMarkInt/IFMarkInt answered "Reject"
};

// §13: "LO", "IO", "ALL", "FFPO", and the security-negotiation-only keys of §12.
enum class KeyPhase : std::uint8_t { leading_only, login_only, any, full_feature_only, security_only };
enum class KeyScope : std::uint8_t { session, connection };  // §13: "SW", "CO"
enum class KeySender : std::uint8_t { initiator, target, both };

struct KeyDef {
    std::string_view name;
    KeyRule rule;
    KeyPhase phase;
    KeyScope scope;
    KeySender sender;
    std::string_view default_value;  // "" when the key has no default
    std::uint32_t min = 0, max = 0;  // numeric range, inclusive; ignored for non-numeric keys
    bool security_stage = false;     // may appear in the security negotiation stage (RFC 3720 "Any-Stage")
    bool discovery = false;          // meaningful in a discovery session; otherwise answered "Irrelevant"
};

// The whole table, and lookup by exact name. Keys beginning "X-" or "X#" are private extensions
// (answered NotUnderstood); unknown keys likewise.
std::span<const KeyDef> key_table();
const KeyDef* find_key(std::string_view name);
// True for "X-..." (private) and "X#..." (public extension) keys (§13.22, §6.1).
bool is_extension_key(std::string_view name);

// The constant answers of §6.2.
inline constexpr std::string_view kReject = "Reject";
inline constexpr std::string_view kIrrelevant = "Irrelevant";
inline constexpr std::string_view kNotUnderstood = "NotUnderstood";

// A numerical value as §6.1 writes it: decimal, or hex with a 0x/0X prefix. nullopt when it is
// neither or does not fit in 64 bits.
std::optional<std::uint64_t> parse_numeric_value(std::string_view text);

// Every operational value a session or connection runs with once login completes, defaulted as
// RFC 7143 §13 says. Lengths are in bytes.
struct SessionParams {
    // session type and names (declarative)
    bool discovery = false;
    std::string initiator_name, initiator_alias, target_name, target_alias;
    // digests (connection)
    bool header_digest = false;
    bool data_digest = false;
    // session-wide
    std::uint32_t max_connections = 1;
    bool initial_r2t = true;
    bool immediate_data = true;
    std::uint32_t max_burst_length = 262144;
    std::uint32_t first_burst_length = 65536;
    std::uint32_t default_time2wait = 2;
    std::uint32_t default_time2retain = 20;
    std::uint32_t max_outstanding_r2t = 1;
    bool data_pdu_in_order = true;
    bool data_sequence_in_order = true;
    std::uint32_t error_recovery_level = 0;
    // MaxRecvDataSegmentLength is declarative per direction (§13.12): what each side may receive.
    std::uint32_t initiator_max_recv_data_segment_length = 8192;  // limits what the target sends
    std::uint32_t target_max_recv_data_segment_length = 8192;     // limits what the initiator sends
};

// What this side is willing to do: the values it answers or offers with. Defaults are what a
// production target proposes (RFC values where they are sensible, larger bursts otherwise).
struct LocalLimits {
    std::uint32_t max_recv_data_segment_length = 262144;
    std::uint32_t max_burst_length = 1048576;
    std::uint32_t first_burst_length = 262144;
    std::uint32_t max_outstanding_r2t = 1;
    std::uint32_t max_connections = 1;
    std::uint32_t default_time2wait = 2;
    std::uint32_t default_time2retain = 20;
    std::uint32_t error_recovery_level = 0;
    bool initial_r2t = false;  // we prefer unsolicited data allowed
    bool immediate_data = true;
    bool allow_header_digest = true;  // accept CRC32C when the peer offers it
    bool allow_data_digest = true;
    std::string target_alias;  // TargetAlias we declare, when not empty
    // AuthMethod values we accept (§12.1); the first one the peer lists that is here wins.
    std::vector<std::string> auth_methods{"None"};
};

// Why a negotiation fails the login (mapped by the login code to a Status-Class/Detail).
enum class NegotiationFailure : std::uint8_t {
    none,
    missing_parameter,   // InitiatorName (or TargetName in a normal session) never came
    invalid_value,       // e.g. a numeric out of range for a key that must not be answered Reject
    key_in_wrong_phase,  // a leading-only key on a non-leading connection, an operational key in
                         // the security stage, a security key after it, a full-feature-only key
    session_type_not_supported,
    protocol_error,  // a key only the target may send (§13 "Senders"), or a key sent again
                     // with a different value in one login (§6.1)
};

// The target side of one login. Feed it each request's pairs in order; it appends the answers and
// remembers the settled values. A key repeated with the value it had before is accepted again (some
// initiators, libiscsi among them, resend the names after the security stage); a different value
// fails with protocol_error. Full-feature-phase Text negotiation is not handled here.
//
// Missing keys do not make respond() fail, because a later PDU may still bring them: call
// check_complete() before the transition to full feature phase (InitiatorName always, TargetName
// in a normal session; §13.4, §13.5) and map missing_parameter to Status 0x0207.
class TargetNegotiator {
public:
    TargetNegotiator(LocalLimits limits, bool leading_connection);

    // Answers `offered` (one PDU's keys, or several continued PDUs' keys joined). `security_stage`
    // is true while CSG is the security stage. Answers for keys that need one go to `answers`:
    // the selected value, "Irrelevant", "NotUnderstood" or "Reject" as §5.2 and §6.2 say. On a
    // failure `answers` may hold some answers already; send none of them, the login fails. Keys
    // the target must declare itself (TargetAlias, TargetPortalGroupTag, and MaxRecvDataSegmentLength
    // once) are added by declare_target_keys().
    NegotiationFailure respond(const TextPairs& offered, bool security_stage, TextPairs& answers);

    // Adds this side's declarations that have not been sent yet; call after respond() for every
    // Login Response, `security_stage` as there. Declares TargetPortalGroupTag once TargetName has
    // come (§13.9: in the first response after it, whatever the stage) and TargetAlias in a normal
    // session when configured (§13.6). Outside the security stage it also declares our
    // MaxRecvDataSegmentLength (§13.12) and, on a leading connection, offers the keys where our
    // limits are stricter than the RFC default the initiator left in place (e.g. MaxBurstLength
    // below 262144, ImmediateData=No); the initiator's next request answers those.
    void declare_target_keys(std::uint16_t target_portal_group_tag, TextPairs& answers, bool security_stage = false);

    // missing_parameter when InitiatorName, or TargetName in a normal session, never came.
    NegotiationFailure check_complete() const;
    // True while keys we offered in declare_target_keys() are unanswered: the target must not
    // leave the operational stage yet (§6.2).
    bool awaiting_answers() const { return !pending_.empty(); }
    // The AuthMethod settled in the security stage ("None", "CHAP"), empty if none was.
    const std::string& auth_method() const { return auth_method_; }

    // Values that were not negotiated keep their RFC 7143 defaults (a key we offered and the
    // initiator rejected too); FirstBurstLength <= MaxBurstLength always holds (§13.14).
    const SessionParams& params() const { return params_; }
    // The raw value of a key the initiator sent, if any (InitiatorName, TargetName, SessionType,
    // AuthMethod, CHAP_N, CHAP_R...).
    std::optional<std::string> offered_value(std::string_view key) const;

private:
    NegotiationFailure respond_all(const TextPairs& offered, bool security_stage, TextPairs& answers);
    NegotiationFailure respond_one(const KeyDef& def, const std::string& key, const std::string& value,
                                   TextPairs& answers);
    NegotiationFailure declare(const KeyDef& def, const std::string& value);

    LocalLimits limits_;
    bool leading_;
    SessionParams params_;
    std::vector<TextPair> offered_;     // every key the initiator sent
    std::vector<std::string> pending_;  // keys we offered, awaiting the initiator's answer
    std::string auth_method_;
    bool declared_mrdsl_ = false;
    bool declared_alias_ = false;
    bool declared_tpgt_ = false;
    bool offered_limits_ = false;
};

// The initiator side: builds the offer for a stage and settles values from the target's answers.
// The security stage keys (InitiatorName, TargetName, SessionType, AuthMethod, CHAP_*) are the
// login code's; this class does the operational ones.
class InitiatorNegotiator {
public:
    explicit InitiatorNegotiator(LocalLimits limits, bool discovery = false, bool leading_connection = true);
    // Keys to offer in the operational stage: every negotiable operational key with our value,
    // plus our MaxRecvDataSegmentLength declaration. Keys irrelevant to a discovery session, and
    // leading-only keys on a non-leading connection, are left out; so are TaskReporting and
    // iSCSIProtocolLevel, whose defaults suit us.
    TextPairs operational_offer() const;
    // Applies the target's answers and declarations; fails when the target answered something the
    // rules forbid (a value outside what we offered or outside the key's range). Keys the target
    // offers on its own are settled too, and our answers to them queued for take_replies().
    NegotiationFailure apply_answers(const TextPairs& answers);
    // Answers owed to keys the target offered; send them in the next Login Request.
    TextPairs take_replies();
    const SessionParams& params() const { return params_; }

private:
    NegotiationFailure apply_all(const TextPairs& answers);

    LocalLimits limits_;
    bool leading_;
    SessionParams params_;
    TextPairs replies_;
};

}  // namespace iscsikit::iscsi
