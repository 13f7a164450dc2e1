// Fuzzes login text: parse_text either refuses the bytes or yields pairs that build back to the
// same pairs, and the negotiators take any such pairs without crashing or breaking the §13.14
// invariant FirstBurstLength <= MaxBurstLength.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "iscsi/params.hpp"
#include "iscsi/text.hpp"

using namespace iscsikit;
using namespace iscsikit::iscsi;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

void check_params(const SessionParams& p) {
    check(p.first_burst_length <= p.max_burst_length);
    check(p.max_burst_length >= 512 && p.max_burst_length <= 16777215);
    check(p.error_recovery_level <= 2);
    check(p.initiator_max_recv_data_segment_length >= 512);
}

void check_answers(const TextPairs& answers) {
    for (const auto& [key, value] : answers) check(!key.empty() && !value.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t flags = data[0];
    const ConstByteSpan bytes(reinterpret_cast<const std::byte*>(data + 1), size - 1);

    auto pairs = parse_text(bytes);
    if (!pairs) return 0;
    auto again = parse_text(build_text(*pairs));
    check(again.has_value() && *again == *pairs);

    LocalLimits limits;
    limits.max_burst_length = (flags & 0x10) ? 65536 : 1048576;
    limits.immediate_data = (flags & 0x20) == 0;
    limits.auth_methods = {"CHAP", "None"};
    TargetNegotiator target(limits, (flags & 1) != 0);
    TextPairs answers;
    // Two requests: the pairs in the chosen stage, then the same pairs again in the operational
    // stage (repeats and stage changes are where login state goes wrong).
    if (target.respond(*pairs, (flags & 2) != 0, answers) == NegotiationFailure::none) {
        target.declare_target_keys(1, answers, (flags & 2) != 0);
        target.respond(*pairs, false, answers);
        target.declare_target_keys(1, answers);
    }
    check_answers(answers);
    check_params(target.params());
    (void)target.check_complete();

    InitiatorNegotiator initiator(limits, (flags & 4) != 0, (flags & 8) != 0);
    (void)initiator.apply_answers(*pairs);
    check_answers(initiator.take_replies());
    check_params(initiator.params());
    return 0;
}
