// The RFC 7143 §13 key table (plus the §12 security keys) and the value syntax of §6.1.
#include "iscsi/params.hpp"

#include <array>
#include <limits>

namespace iscsikit::iscsi {

namespace {

using R = KeyRule;
using P = KeyPhase;
using S = KeyScope;
using W = KeySender;

constexpr std::uint32_t kMaxLength = 16777215;  // 2**24 - 1, the ceiling of the length keys

// One row per key: name, rule, use, scope, senders, default, range, may appear in the security
// stage, relevant in a discovery session. Section numbers are RFC 7143's unless noted.
constexpr std::array kKeys{
    // §13.1
    KeyDef{"HeaderDigest", R::list, P::login_only, S::connection, W::both, "None", 0, 0, false, true},
    KeyDef{"DataDigest", R::list, P::login_only, S::connection, W::both, "None", 0, 0, false, true},
    // §13.2
    KeyDef{"MaxConnections", R::numeric_min, P::leading_only, S::session, W::both, "1", 1, 65535, false, false},
    // §13.3
    KeyDef{"SendTargets", R::declarative, P::full_feature_only, S::session, W::initiator, "", 0, 0, false, true},
    // §13.4: sent by the initiator at login, by the target only in SendTargets answers.
    KeyDef{"TargetName", R::declarative, P::login_only, S::session, W::both, "", 0, 0, true, true},
    // §13.5
    KeyDef{"InitiatorName", R::declarative, P::login_only, S::session, W::initiator, "", 0, 0, true, true},
    // §13.6
    KeyDef{"TargetAlias", R::declarative, P::any, S::session, W::target, "", 0, 0, true, true},
    // §13.7
    KeyDef{"InitiatorAlias", R::declarative, P::any, S::session, W::initiator, "", 0, 0, true, true},
    // §13.8
    KeyDef{"TargetAddress", R::declarative, P::any, S::session, W::target, "", 0, 0, true, true},
    // §13.9
    KeyDef{"TargetPortalGroupTag", R::declarative, P::login_only, S::session, W::target, "", 0, 65535, true, true},
    // §13.10
    KeyDef{"InitialR2T", R::boolean_or, P::leading_only, S::session, W::both, "Yes", 0, 0, false, false},
    // §13.11
    KeyDef{"ImmediateData", R::boolean_and, P::leading_only, S::session, W::both, "Yes", 0, 0, false, false},
    // §13.12
    KeyDef{"MaxRecvDataSegmentLength", R::declarative, P::any, S::connection, W::both, "8192", 512, kMaxLength, false,
           true},
    // §13.13
    KeyDef{"MaxBurstLength", R::numeric_min, P::leading_only, S::session, W::both, "262144", 512, kMaxLength, false,
           false},
    // §13.14
    KeyDef{"FirstBurstLength", R::numeric_min, P::leading_only, S::session, W::both, "65536", 512, kMaxLength, false,
           false},
    // §13.15
    KeyDef{"DefaultTime2Wait", R::numeric_max, P::leading_only, S::session, W::both, "2", 0, 3600, false, true},
    // §13.16
    KeyDef{"DefaultTime2Retain", R::numeric_min, P::leading_only, S::session, W::both, "20", 0, 3600, false, true},
    // §13.17
    KeyDef{"MaxOutstandingR2T", R::numeric_min, P::leading_only, S::session, W::both, "1", 1, 65535, false, false},
    // §13.18
    KeyDef{"DataPDUInOrder", R::boolean_or, P::leading_only, S::session, W::both, "Yes", 0, 0, false, false},
    // §13.19
    KeyDef{"DataSequenceInOrder", R::boolean_or, P::leading_only, S::session, W::both, "Yes", 0, 0, false, false},
    // §13.20
    KeyDef{"ErrorRecoveryLevel", R::numeric_min, P::leading_only, S::session, W::both, "0", 0, 2, false, true},
    // §13.21
    KeyDef{"SessionType", R::declarative, P::leading_only, S::session, W::initiator, "Normal", 0, 0, true, true},
    // §13.23
    KeyDef{"TaskReporting", R::list, P::leading_only, S::session, W::both, "RFC3720", 0, 0, false, false},
    // §13.24, RFC 7144 §6
    KeyDef{"iSCSIProtocolLevel", R::numeric_min, P::leading_only, S::session, W::both, "0", 0, 31, false, true},
    // §13.25: obsoleted marker keys
    KeyDef{"OFMarker", R::obsolete, P::login_only, S::connection, W::both, "No", 0, 0, false, true},
    KeyDef{"IFMarker", R::obsolete, P::login_only, S::connection, W::both, "No", 0, 0, false, true},
    KeyDef{"OFMarkInt", R::obsolete, P::login_only, S::connection, W::both, "2048", 0, 0, false, true},
    KeyDef{"IFMarkInt", R::obsolete, P::login_only, S::connection, W::both, "2048", 0, 0, false, true},
    // §12.1
    KeyDef{"AuthMethod", R::list, P::security_only, S::connection, W::both, "None", 0, 0, true, true},
    // §12.1.3 CHAP
    KeyDef{"CHAP_A", R::authentication, P::security_only, S::connection, W::both, "", 0, 0, true, true},
    KeyDef{"CHAP_I", R::authentication, P::security_only, S::connection, W::both, "", 0, 0, true, true},
    KeyDef{"CHAP_C", R::authentication, P::security_only, S::connection, W::both, "", 0, 0, true, true},
    KeyDef{"CHAP_N", R::authentication, P::security_only, S::connection, W::both, "", 0, 0, true, true},
    KeyDef{"CHAP_R", R::authentication, P::security_only, S::connection, W::both, "", 0, 0, true, true},
};

}  // namespace

std::span<const KeyDef> key_table() { return kKeys; }

const KeyDef* find_key(std::string_view name) {
    for (const KeyDef& def : kKeys) {
        if (def.name == name) return &def;  // §6.1: key names are case-sensitive
    }
    return nullptr;
}

bool is_extension_key(std::string_view name) {
    return name.size() > 2 && name[0] == 'X' && (name[1] == '-' || name[1] == '#');
}

std::optional<std::uint64_t> parse_numeric_value(std::string_view text) {
    unsigned base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    }
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        unsigned digit;
        if (c >= '0' && c <= '9') {
            digit = static_cast<unsigned>(c - '0');
        } else if (base == 16 && c >= 'a' && c <= 'f') {
            digit = static_cast<unsigned>(c - 'a' + 10);
        } else if (base == 16 && c >= 'A' && c <= 'F') {
            digit = static_cast<unsigned>(c - 'A' + 10);
        } else {
            return std::nullopt;
        }
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / base) return std::nullopt;
        value = value * base + digit;
    }
    return value;
}

}  // namespace iscsikit::iscsi
