#include "iscsi/negotiation.hpp"

#include <algorithm>

namespace iscsikit::iscsi::detail {

namespace {

// Calls fn(item) for each item of a §6.1 list-of-values ("a,b,c"); stops when fn returns true.
template <class Fn>
bool any_item(std::string_view list, Fn fn) {
    std::size_t pos = 0;
    while (pos <= list.size()) {
        std::size_t comma = list.find(',', pos);
        if (comma == std::string_view::npos) comma = list.size();
        if (fn(list.substr(pos, comma - pos))) return true;
        pos = comma + 1;
    }
    return false;
}

bool list_contains(std::string_view list, std::string_view value) {
    return any_item(list, [&](std::string_view item) { return item == value; });
}

std::optional<std::uint64_t> numeric_in_range(const KeyDef& def, std::string_view text) {
    auto v = parse_numeric_value(text);
    if (!v || *v < def.min || *v > def.max) return std::nullopt;
    return v;
}

}  // namespace

std::optional<bool> parse_boolean(std::string_view text) {
    if (text == "Yes") return true;
    if (text == "No") return false;
    return std::nullopt;
}

std::optional<std::string> negotiate_value(const KeyDef& def, std::string_view theirs, std::string_view ours) {
    switch (def.rule) {
        case KeyRule::numeric_min:
        case KeyRule::numeric_max: {
            auto t = numeric_in_range(def, theirs);
            auto o = parse_numeric_value(ours);
            if (!t || !o) return std::nullopt;
            // §6.2.2: the result is the smaller (larger) of the two.
            return std::to_string(def.rule == KeyRule::numeric_min ? std::min(*t, *o) : std::max(*t, *o));
        }
        case KeyRule::boolean_and:
        case KeyRule::boolean_or: {
            auto t = parse_boolean(theirs);
            auto o = parse_boolean(ours);
            if (!t || !o) return std::nullopt;
            return std::string(boolean_text(def.rule == KeyRule::boolean_and ? (*t && *o) : (*t || *o)));
        }
        case KeyRule::list: {
            // §6.2.1: the first value of the originator's list that the responder supports.
            std::optional<std::string> chosen;
            any_item(theirs, [&](std::string_view item) {
                if (item.empty() || !list_contains(ours, item)) return false;
                chosen = std::string(item);
                return true;
            });
            return chosen;
        }
        case KeyRule::declarative:
        case KeyRule::authentication:
        case KeyRule::obsolete: break;
    }
    return std::nullopt;
}

namespace {

// Where each numeric and boolean key lives in SessionParams and LocalLimits.
struct NumberBinding {
    std::string_view name;
    std::uint32_t SessionParams::*param;
    std::uint32_t LocalLimits::*limit;
};
constexpr NumberBinding kNumbers[] = {
    {"MaxConnections", &SessionParams::max_connections, &LocalLimits::max_connections},
    {"MaxBurstLength", &SessionParams::max_burst_length, &LocalLimits::max_burst_length},
    {"FirstBurstLength", &SessionParams::first_burst_length, &LocalLimits::first_burst_length},
    {"DefaultTime2Wait", &SessionParams::default_time2wait, &LocalLimits::default_time2wait},
    {"DefaultTime2Retain", &SessionParams::default_time2retain, &LocalLimits::default_time2retain},
    {"MaxOutstandingR2T", &SessionParams::max_outstanding_r2t, &LocalLimits::max_outstanding_r2t},
    {"ErrorRecoveryLevel", &SessionParams::error_recovery_level, &LocalLimits::error_recovery_level},
};

struct FlagBinding {
    std::string_view name;
    bool SessionParams::*param;
    bool LocalLimits::*limit;  // nullptr: we always want "Yes"
};
constexpr FlagBinding kFlags[] = {
    {"InitialR2T", &SessionParams::initial_r2t, &LocalLimits::initial_r2t},
    {"ImmediateData", &SessionParams::immediate_data, &LocalLimits::immediate_data},
    // Out-of-order data PDUs and sequences are not supported: "Yes" with OR keeps them in order.
    {"DataPDUInOrder", &SessionParams::data_pdu_in_order, nullptr},
    {"DataSequenceInOrder", &SessionParams::data_sequence_in_order, nullptr},
};

template <class Table>
auto* find_binding(const Table& table, std::string_view name) {
    for (const auto& b : table) {
        if (b.name == name) return &b;
    }
    return static_cast<decltype(&table[0])>(nullptr);
}

}  // namespace

std::string local_value(const KeyDef& def, const LocalLimits& limits) {
    const std::string_view name = def.name;
    if (const auto* b = find_binding(kNumbers, name)) return std::to_string(limits.*(b->limit));
    if (const auto* b = find_binding(kFlags, name)) return std::string(boolean_text(!b->limit || limits.*(b->limit)));
    if (name == "HeaderDigest") return limits.allow_header_digest ? "CRC32C,None" : "None";
    if (name == "DataDigest") return limits.allow_data_digest ? "CRC32C,None" : "None";
    if (name == "TaskReporting") return "RFC3720";  // §13.23: neither ResponseFence nor FastAbort yet
    if (name == "iSCSIProtocolLevel") return "1";   // §13.24: the level of RFC 7143 itself
    if (name == "AuthMethod") {
        std::string out;
        for (const auto& method : limits.auth_methods) out += (out.empty() ? "" : ",") + method;
        return out;
    }
    return std::string(def.default_value);
}

LocalLimits sanitized(LocalLimits limits) {
    const auto clamp_to = [](std::string_view name, std::uint32_t& value) {
        const KeyDef* def = find_key(name);
        value = std::clamp(value, def->min, def->max);
    };
    for (const auto& b : kNumbers) clamp_to(b.name, limits.*(b.limit));
    clamp_to("MaxRecvDataSegmentLength", limits.max_recv_data_segment_length);
    limits.first_burst_length = std::min(limits.first_burst_length, limits.max_burst_length);  // §13.14
    return limits;
}

bool default_needs_offer(const KeyDef& def, const LocalLimits& limits) {
    auto result = negotiate_value(def, def.default_value, local_value(def, limits));
    return result && *result != def.default_value;
}

void apply_result(const KeyDef& def, std::string_view result, SessionParams& params) {
    const std::string_view name = def.name;
    if (const auto* b = find_binding(kNumbers, name)) {
        params.*(b->param) = static_cast<std::uint32_t>(parse_numeric_value(result).value_or(0));
    } else if (const auto* b = find_binding(kFlags, name)) {
        params.*(b->param) = parse_boolean(result).value_or(false);
    } else if (name == "HeaderDigest") {
        params.header_digest = result == "CRC32C";
    } else if (name == "DataDigest") {
        params.data_digest = result == "CRC32C";
    }
}

}  // namespace iscsikit::iscsi::detail
