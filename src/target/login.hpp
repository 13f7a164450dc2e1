// The target side of the login phase (RFC 7143 §6): security and operational stages with
// transit/continue handling, key negotiation through iscsi::TargetNegotiator, target lookup,
// TSIH allocation and session reinstatement, and login failures that say what went wrong.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>

#include "iscsi/chap.hpp"
#include "iscsi/params.hpp"
#include "iscsi/pdu.hpp"
#include "target/config.hpp"
#include "target/connection.hpp"
#include "target/registry.hpp"

namespace iscsikit::target {

struct TargetNode;

class Login {
public:
    explicit Login(Connection& connection);
    // The login phase from the first Login Request to its end: the full feature phase entered,
    // or a failure answered and the connection closing. The whole login must end by `deadline`.
    asio::awaitable<void> run(std::chrono::steady_clock::time_point deadline);

private:
    enum class Step { next_request, finished };
    // One Login Request: checks, text collection, negotiation and the answer (RFC 7143 §6.2).
    Step on_login_request(const iscsi::Pdu& pdu);
    bool identify(const iscsi::TextPairs& pairs);  // first request: names and session type; false: failed
    void respond(const iscsi::Bhs& request, bool transit, iscsi::LoginStage csg, iscsi::LoginStage nsg,
                 const iscsi::TextPairs& answers);
    Step fail(iscsi::LoginStatus status, const std::string& why);
    // The security stage's authentication for this request: CHAP when it was settled.
    std::optional<Step> authenticate(const iscsi::TextPairs& pairs, iscsi::TextPairs& answers);
    bool authentication_pending() const { return chap_required() && !(chap_ && chap_->authenticated()); }
    bool chap_required() const { return !policy_.chap.empty(); }
    Step complete(const iscsi::Bhs& request, const iscsi::TextPairs& answers);
    SessionInfo session_info(const iscsi::SessionParams& params) const;

    Connection& connection_;
    bool started_ = false;
    std::uint64_t isid_ = 0;
    std::uint16_t tsih_ = 0;
    std::uint16_t cid_ = 0;
    std::uint32_t itt_ = 0;
    std::uint32_t cmd_sn_ = 0;
    std::uint32_t stat_sn_ = 0;
    iscsi::LoginStage current_stage_ = iscsi::LoginStage::security;  // the stage we are in
    bool identified_ = false;
    bool discovery_ = false;
    std::string initiator_name_;
    std::shared_ptr<const TargetNode> node_;
    std::vector<std::byte> partial_text_;  // text of PDUs sent with the C bit, until the last one
    std::optional<iscsi::TargetNegotiator> negotiator_;
    LoginPolicy policy_;  // may this initiator log in, and with which CHAP credentials
    std::optional<iscsi::ChapTargetExchange> chap_;
    // A failed authentication or authorization is answered after the source's throttle delay.
    struct DelayedFailure {
        iscsi::Bhs bhs;
        std::chrono::milliseconds delay;
    };
    std::optional<DelayedFailure> delayed_;
};

}  // namespace iscsikit::target
