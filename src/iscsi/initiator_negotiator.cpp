// The initiator side of operational negotiation (RFC 7143 §6.2, §13).
#include "iscsi/negotiation.hpp"
#include "iscsi/params.hpp"

namespace iscsikit::iscsi {

namespace {

bool negotiated_rule(KeyRule rule) {
    return rule == KeyRule::numeric_min || rule == KeyRule::numeric_max || rule == KeyRule::boolean_and ||
           rule == KeyRule::boolean_or || rule == KeyRule::list;
}

bool is_constant_answer(std::string_view value) {
    return value == kReject || value == kIrrelevant || value == kNotUnderstood;
}

// The operational keys we offer: every negotiated key that applies to this connection and session,
// except the ones whose defaults suit us and that older targets may not know (§13.23 TaskReporting,
// §13.24 iSCSIProtocolLevel). FirstBurstLength is left out where it is irrelevant (§13.14).
bool we_offer(const KeyDef& def, const LocalLimits& limits, bool discovery, bool leading) {
    if (!negotiated_rule(def.rule) || def.phase == KeyPhase::security_only) return false;
    if (def.phase == KeyPhase::leading_only && !leading) return false;
    if (discovery && !def.discovery) return false;
    if (def.name == "TaskReporting" || def.name == "iSCSIProtocolLevel") return false;
    if (def.name == "FirstBurstLength" && limits.initial_r2t && !limits.immediate_data) return false;
    return true;
}

}  // namespace

InitiatorNegotiator::InitiatorNegotiator(LocalLimits limits, bool discovery, bool leading_connection)
    : limits_(detail::sanitized(std::move(limits))), leading_(leading_connection) {
    params_.discovery = discovery;
    // §13.12: our declaration goes out with the offer; from then on the target respects it.
    params_.initiator_max_recv_data_segment_length = limits_.max_recv_data_segment_length;
}

TextPairs InitiatorNegotiator::operational_offer() const {
    TextPairs offer;
    for (const KeyDef& def : key_table()) {
        if (we_offer(def, limits_, params_.discovery, leading_))
            offer.emplace_back(def.name, detail::local_value(def, limits_));
    }
    offer.emplace_back("MaxRecvDataSegmentLength", std::to_string(limits_.max_recv_data_segment_length));
    return offer;
}

NegotiationFailure InitiatorNegotiator::apply_answers(const TextPairs& answers) {
    const NegotiationFailure failure = apply_all(answers);
    detail::clamp_first_burst(params_);  // §13.14, whether or not the answers were acceptable
    return failure;
}

NegotiationFailure InitiatorNegotiator::apply_all(const TextPairs& answers) {
    for (const auto& [key, value] : answers) {
        const KeyDef* def = find_key(key);
        if (def == nullptr) {
            replies_.emplace_back(key, kNotUnderstood);  // §6.2: a key the target offered that we do not know
            continue;
        }
        if (def->sender == KeySender::initiator) return NegotiationFailure::protocol_error;  // e.g. InitiatorName
        if (def->rule == KeyRule::declarative) {
            if (def->name == "MaxRecvDataSegmentLength") {
                auto v = parse_numeric_value(value);
                if (!v || *v < def->min || *v > def->max) return NegotiationFailure::invalid_value;
                params_.target_max_recv_data_segment_length = static_cast<std::uint32_t>(*v);
            } else if (def->name == "TargetAlias") {
                params_.target_alias = value;
            }
            continue;  // TargetPortalGroupTag, TargetAddress: the login code reads them from the pairs
        }
        if (def->rule == KeyRule::authentication || def->phase == KeyPhase::security_only) continue;
        if (def->rule == KeyRule::obsolete) {
            replies_.emplace_back(key, key.ends_with("Marker") ? std::string_view("No") : kReject);  // §13.25
            continue;
        }
        const std::string ours = detail::local_value(*def, limits_);
        if (we_offer(*def, limits_, params_.discovery, leading_)) {
            // The target's answer to our offer: a constant leaves the default in place (§6.2);
            // otherwise it must be exactly what the key's function yields from our offer.
            if (is_constant_answer(value)) continue;
            auto result = detail::negotiate_value(*def, value, ours);
            if (!result || *result != value) return NegotiationFailure::invalid_value;
            detail::apply_result(*def, *result, params_);
            continue;
        }
        // A key the target offered itself: we answer it in the next request.
        if ((params_.discovery && !def->discovery) || (def->phase == KeyPhase::leading_only && !leading_)) {
            replies_.emplace_back(key, kIrrelevant);
            continue;
        }
        auto result = detail::negotiate_value(*def, value, ours);
        if (!result) {
            replies_.emplace_back(key, kReject);
            continue;
        }
        detail::apply_result(*def, *result, params_);
        replies_.emplace_back(key, *result);
    }
    return NegotiationFailure::none;
}

TextPairs InitiatorNegotiator::take_replies() {
    TextPairs out;
    out.swap(replies_);
    return out;
}

}  // namespace iscsikit::iscsi
