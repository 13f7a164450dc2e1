// The target side of login negotiation (RFC 7143 §6.2, §6.3, §13).
#include <algorithm>

#include "iscsi/negotiation.hpp"
#include "iscsi/params.hpp"

namespace iscsikit::iscsi {

namespace {

constexpr std::size_t kMaxNameLength = 223;  // RFC 7143 §4.2.7.1: iSCSI names are at most 223 bytes
constexpr std::size_t kMaxTextValue = 255;   // §6.1: values are at most 255 bytes unless a key says more

bool negotiated_rule(KeyRule rule) {
    return rule == KeyRule::numeric_min || rule == KeyRule::numeric_max || rule == KeyRule::boolean_and ||
           rule == KeyRule::boolean_or || rule == KeyRule::list;
}

}  // namespace

TargetNegotiator::TargetNegotiator(LocalLimits limits, bool leading_connection)
    : limits_(detail::sanitized(std::move(limits))), leading_(leading_connection) {}

std::optional<std::string> TargetNegotiator::offered_value(std::string_view key) const {
    if (const auto value = find_value(offered_, key)) return std::string(*value);
    return std::nullopt;
}

NegotiationFailure TargetNegotiator::respond(const TextPairs& offered, bool security_stage, TextPairs& answers) {
    const NegotiationFailure failure = respond_all(offered, security_stage, answers);
    detail::clamp_first_burst(params_);  // §13.14, whether or not the request was acceptable
    return failure;
}

NegotiationFailure TargetNegotiator::respond_all(const TextPairs& offered, bool security_stage, TextPairs& answers) {
    // §13.21: the session type decides which keys are irrelevant, wherever it sits in the request.
    for (const auto& [key, value] : offered) {
        if (key != "SessionType") continue;
        if (value == "Discovery") {
            params_.discovery = true;
        } else if (value == "Normal") {
            params_.discovery = false;
        } else {
            return NegotiationFailure::session_type_not_supported;
        }
    }

    std::optional<std::size_t> first_burst_slot;
    std::string first_burst_value;
    for (const auto& [key, value] : offered) {
        const KeyDef* def = find_key(key);
        if (def == nullptr) {
            // §6.2: unknown keys, the X- and X# extensions among them, are answered NotUnderstood.
            answers.emplace_back(key, kNotUnderstood);
            continue;
        }
        // The initiator answering a key we offered in declare_target_keys().
        if (auto it = std::find(pending_.begin(), pending_.end(), key); it != pending_.end()) {
            pending_.erase(it);
            offered_.emplace_back(key, value);
            if (auto result = detail::negotiate_value(*def, value, detail::local_value(*def, limits_))) {
                detail::apply_result(*def, *result, params_);
            }  // Reject / Irrelevant / NotUnderstood leave the RFC default in place (§6.2)
            continue;
        }
        // §13.6, §13.8, §13.9: only the target sends TargetAlias, TargetAddress, TargetPortalGroupTag.
        if (def->sender == KeySender::target) return NegotiationFailure::protocol_error;
        if (const auto previous = find_value(offered_, key)) {
            // §6.1: no key is negotiated or declared twice in a login; the same value again is
            // tolerated (and answered again), a different one is not.
            if (*previous != value) return NegotiationFailure::protocol_error;
        } else {
            offered_.emplace_back(key, value);
        }
        // §13.3: SendTargets belongs to the full feature phase.
        if (def->phase == KeyPhase::full_feature_only) return NegotiationFailure::key_in_wrong_phase;
        // §12: security keys only in the security stage; §6.3: operational keys only after it.
        if (def->phase == KeyPhase::security_only && !security_stage) return NegotiationFailure::key_in_wrong_phase;
        if (security_stage && !def->security_stage) return NegotiationFailure::key_in_wrong_phase;
        // §13: "LO" keys are negotiated on the leading connection only.
        if (def->phase == KeyPhase::leading_only && !leading_) return NegotiationFailure::key_in_wrong_phase;

        if (def->rule == KeyRule::authentication) continue;  // CHAP_*: the authenticator reads offered_value()
        if (params_.discovery && !def->discovery) {
            answers.emplace_back(key, kIrrelevant);  // §13: "Irrelevant when: SessionType=Discovery"
            continue;
        }
        if (def->name == "FirstBurstLength") {
            // Answered after the loop, in this place: it depends on MaxBurstLength, InitialR2T and
            // ImmediateData, which may come later in the request.
            first_burst_slot = answers.size();
            first_burst_value = value;
            continue;
        }
        if (auto failure = respond_one(*def, key, value, answers); failure != NegotiationFailure::none) return failure;
    }

    if (first_burst_slot) {
        std::string answer;
        if (params_.initial_r2t && !params_.immediate_data) {
            answer = kIrrelevant;  // §13.14: "Irrelevant when: (InitialR2T=Yes and ImmediateData=No)"
        } else {
            const KeyDef& def = *find_key("FirstBurstLength");
            // §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength, so the answer respects both.
            const std::uint32_t ours = std::min(limits_.first_burst_length, params_.max_burst_length);
            auto result = detail::negotiate_value(def, first_burst_value, std::to_string(ours));
            answer = result ? *result : std::string(kReject);
            if (result) detail::apply_result(def, *result, params_);
        }
        answers.emplace(answers.begin() + static_cast<std::ptrdiff_t>(*first_burst_slot), "FirstBurstLength",
                        std::move(answer));
    }
    return NegotiationFailure::none;
}

NegotiationFailure TargetNegotiator::respond_one(const KeyDef& def, const std::string& key, const std::string& value,
                                                 TextPairs& answers) {
    switch (def.rule) {
        case KeyRule::declarative: return declare(def, value);  // §6.2: declarations get no answer
        case KeyRule::obsolete:
            // §13.25: OFMarker/IFMarker MAY be answered "No" (what RFC 3720 initiators expect);
            // OFMarkInt/IFMarkInt MUST be answered "Reject".
            answers.emplace_back(key, key.ends_with("Marker") ? std::string_view("No") : kReject);
            return NegotiationFailure::none;
        case KeyRule::authentication: return NegotiationFailure::none;
        case KeyRule::numeric_min:
        case KeyRule::numeric_max:
        case KeyRule::boolean_and:
        case KeyRule::boolean_or:
        case KeyRule::list: break;
    }
    // §6.2: an offer that is not a valid value for the key (out of range, not a number, no list
    // item we support) is answered "Reject" and the key keeps its default.
    auto result = detail::negotiate_value(def, value, detail::local_value(def, limits_));
    if (!result) {
        answers.emplace_back(key, kReject);
        return NegotiationFailure::none;
    }
    detail::apply_result(def, *result, params_);
    if (def.name == "AuthMethod") auth_method_ = *result;
    answers.emplace_back(key, *result);
    return NegotiationFailure::none;
}

NegotiationFailure TargetNegotiator::declare(const KeyDef& def, const std::string& value) {
    const std::string_view name = def.name;
    if (name == "InitiatorName" || name == "TargetName") {
        if (value.empty() || value.size() > kMaxNameLength) return NegotiationFailure::invalid_value;
        (name == "InitiatorName" ? params_.initiator_name : params_.target_name) = value;
    } else if (name == "InitiatorAlias") {
        if (value.size() > kMaxTextValue) return NegotiationFailure::invalid_value;
        params_.initiator_alias = value;
    } else if (name == "MaxRecvDataSegmentLength") {
        // §13.12: a declaration, so an out-of-range value cannot be answered Reject; it fails the login.
        auto v = parse_numeric_value(value);
        if (!v || *v < def.min || *v > def.max) return NegotiationFailure::invalid_value;
        params_.initiator_max_recv_data_segment_length = static_cast<std::uint32_t>(*v);
    }
    // SessionType was settled before the loop.
    return NegotiationFailure::none;
}

void TargetNegotiator::declare_target_keys(std::uint16_t target_portal_group_tag, TextPairs& answers,
                                           bool security_stage) {
    // §13.9: TargetPortalGroupTag goes back once the initiator has named the target.
    if (!declared_tpgt_ && find_value(offered_, "TargetName")) {
        answers.emplace_back("TargetPortalGroupTag", std::to_string(target_portal_group_tag));
        declared_tpgt_ = true;
    }
    // §13.6: TargetAlias SHOULD be sent in a normal session when one is configured.
    if (!declared_alias_ && !params_.discovery && !limits_.target_alias.empty()) {
        answers.emplace_back("TargetAlias", limits_.target_alias);
        params_.target_alias = limits_.target_alias;
        declared_alias_ = true;
    }
    // The rest are operational keys (§6.3): not in the security stage.
    if (security_stage) return;
    // §13.12: until we declare it, the initiator sends us at most 8192 bytes per PDU.
    if (!declared_mrdsl_) {
        answers.emplace_back("MaxRecvDataSegmentLength", std::to_string(limits_.max_recv_data_segment_length));
        params_.target_max_recv_data_segment_length = limits_.max_recv_data_segment_length;
        declared_mrdsl_ = true;
    }
    // §6.2: either side may originate a key. Where the initiator left a key at its default and our
    // limit is stricter (MaxBurstLength below 262144, ImmediateData=No, ...), we offer ours.
    if (!offered_limits_) {
        offered_limits_ = true;
        for (const KeyDef& def : key_table()) {
            if (!negotiated_rule(def.rule) || def.phase == KeyPhase::security_only) continue;
            if (def.phase == KeyPhase::leading_only && !leading_) continue;
            if (params_.discovery && !def.discovery) continue;
            if (find_value(offered_, def.name) || !detail::default_needs_offer(def, limits_)) continue;
            answers.emplace_back(def.name, detail::local_value(def, limits_));
            pending_.emplace_back(def.name);
        }
    }
}

NegotiationFailure TargetNegotiator::check_complete() const {
    // §13.5: InitiatorName on every connection; §13.4: TargetName unless this is a discovery session.
    if (!find_value(offered_, "InitiatorName")) return NegotiationFailure::missing_parameter;
    if (!params_.discovery && !find_value(offered_, "TargetName")) return NegotiationFailure::missing_parameter;
    return NegotiationFailure::none;
}

}  // namespace iscsikit::iscsi
