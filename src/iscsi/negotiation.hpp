// Internal to src/iscsi/: the per-key value rules both negotiators share (RFC 7143 §6.2, §13):
// how a result is computed from two values, what this side's value is, and where a settled value
// is stored. Not part of the layer's interface.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "iscsi/params.hpp"

namespace iscsikit::iscsi::detail {

// §6.1 boolean-value: exactly "Yes" or "No".
std::optional<bool> parse_boolean(std::string_view text);
inline std::string_view boolean_text(bool v) { return v ? "Yes" : "No"; }

// The outcome of negotiating `def` (a numeric, boolean or list key) between the value the peer
// sent and ours, both in wire form. For a list key `ours` is the comma-separated set we accept and
// the result is the first value of `theirs` in it. nullopt when `theirs` is not a valid value for
// the key (out of range, not a number, no acceptable list item): the answer is then "Reject".
std::optional<std::string> negotiate_value(const KeyDef& def, std::string_view theirs, std::string_view ours);

// This side's value for a negotiated key under `limits`, in wire form; for list keys the
// comma-separated values we accept, most preferred first.
std::string local_value(const KeyDef& def, const LocalLimits& limits);

// Stores a settled (validated) result for `def` into `params`.
void apply_result(const KeyDef& def, std::string_view result, SessionParams& params);

// `limits` with every number pulled into its key's §13 range and FirstBurstLength <= MaxBurstLength.
LocalLimits sanitized(LocalLimits limits);

// The result our side reaches if the peer keeps the key's default: when it differs from the
// default, our limits are stricter and we must offer the key ourselves.
bool default_needs_offer(const KeyDef& def, const LocalLimits& limits);

// §13.14: FirstBurstLength never exceeds MaxBurstLength.
inline void clamp_first_burst(SessionParams& params) {
    if (params.first_burst_length > params.max_burst_length) params.first_burst_length = params.max_burst_length;
}

}  // namespace iscsikit::iscsi::detail
