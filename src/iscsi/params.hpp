// The RFC 7143 §13 login/text keys as one table (STYLE.md rule 3), and the negotiation engine both
// roles consult. A key's row says its type, rule, default, range, phase and scope; adding a key is
// one row.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iscsi/text.hpp"

namespace iscsikit::iscsi {

enum class Role : std::uint8_t { initiator, target };

// How a key's value is settled (RFC 7143 §5.2, §6.2).
enum class KeyRule : std::uint8_t {
    declarative,  // each side declares its own value; nothing is answered to a declaration
    boolean_and,  // result = offered AND ours ("No" wins)
    boolean_or,   // result = offered OR ours ("Yes" wins)
    numeric_min,  // result = min(offered, ours)
    numeric_max,  // result = max(offered, ours)
    list,         // ours = first value in the offered list that we support
};

enum class KeyPhase : std::uint8_t { leading_only, login_only, any };        // §13: "LO", "IO", "ALL"
enum class KeyScope : std::uint8_t { session, connection };               // §13: "SW", "CO"
enum class KeySender : std::uint8_t { initiator, target, both };

struct KeyDef {
    std::string_view name;
    KeyRule rule;
    KeyPhase phase;
    KeyScope scope;
    KeySender sender;
    std::string_view default_value;  // "" when the key has no default
    std::uint32_t min = 0, max = 0;  // numeric range, inclusive; ignored for non-numeric keys
    bool security_stage = false;     // may appear in the security negotiation stage
    bool discovery = false;          // meaningful in a discovery session
};

// The whole table, and lookup by exact name. Keys beginning "X-" or "X#" are private extensions
// (answered NotUnderstood); unknown keys likewise.
std::span<const KeyDef> key_table();
const KeyDef* find_key(std::string_view name);

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
    bool initial_r2t = false;      // we prefer unsolicited data allowed
    bool immediate_data = true;
    bool allow_header_digest = true;  // accept CRC32C when the peer offers it
    bool allow_data_digest = true;
    std::string target_alias;     // TargetAlias we declare, when not empty
};

// Why a negotiation fails the login (mapped by the login code to a Status-Class/Detail).
enum class NegotiationFailure : std::uint8_t {
    none,
    missing_parameter,       // InitiatorName (or TargetName in a normal session) never came
    invalid_value,           // e.g. a numeric out of range for a key that must not be answered Reject
    key_in_wrong_phase,      // a leading-only key on a non-leading connection / after login
    session_type_not_supported,
};

// The target side of one login or text negotiation. Feed it each request's pairs in order; it
// appends the answers and remembers the settled values.
class TargetNegotiator {
public:
    TargetNegotiator(LocalLimits limits, bool leading_connection);

    // Answers `offered` (one PDU's keys, or several continued PDUs' keys joined). `security_stage`
    // is true while CSG is the security stage. Answers for keys that need one go to `answers`:
    // the selected value, "Irrelevant", "NotUnderstood" or "Reject" as §5.2 and §6.2 say. Keys
    // the target must declare itself (TargetAlias, TargetPortalGroupTag, and MaxRecvDataSegmentLength
    // once) are added by declare_target_keys().
    NegotiationFailure respond(const TextPairs& offered, bool security_stage, TextPairs& answers);

    // Adds this side's declarations that have not been sent yet; call when moving to full feature
    // phase or when answering the operational stage.
    void declare_target_keys(std::uint16_t target_portal_group_tag, TextPairs& answers);

    // Values that the initiator did not offer are left at their RFC 7143 defaults, except where
    // our limits are stricter (we then declare them too).
    const SessionParams& params() const { return params_; }
    // The raw value of a declarative key the initiator sent, if any (InitiatorName, TargetName,
    // SessionType, AuthMethod...).
    std::optional<std::string> offered_value(std::string_view key) const;

private:
    LocalLimits limits_;
    bool leading_;
    SessionParams params_;
    std::vector<TextPair> offered_;  // every key the initiator sent, last value wins
    bool declared_mrdsl_ = false;
    bool declared_alias_ = false;
    bool declared_tpgt_ = false;
};

// The initiator side: builds the offer for a stage and settles values from the target's answers.
class InitiatorNegotiator {
public:
    explicit InitiatorNegotiator(LocalLimits limits);
    // Keys to offer in the operational stage (everything we want different from the default plus
    // the ones the RFC requires us to send).
    TextPairs operational_offer() const;
    // Applies the target's answers; fails when the target answered something the rules forbid.
    NegotiationFailure apply_answers(const TextPairs& answers);
    const SessionParams& params() const { return params_; }

private:
    LocalLimits limits_;
    SessionParams params_;
};

}  // namespace iscsikit::iscsi
