#include "target/login.hpp"

#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "target/server.hpp"
#include "target/session.hpp"

namespace iscsikit::target {

using iscsi::LoginStage;
using iscsi::LoginStatus;

namespace {
// Text of one login (all continued PDUs together) may not exceed this; RFC 7143 §6.2 lets the
// target bound it, and a hostile initiator must not grow our memory.
constexpr std::size_t kMaxLoginText = std::size_t{64} * 1024;

// RFC 7143 §11.12.3: stage 2 is reserved; a request may still carry it.
const char* stage_name(LoginStage stage) {
    switch (stage) {
        case LoginStage::security: return "security";
        case LoginStage::operational: return "operational";
        case LoginStage::full_feature: return "full feature";
    }
    return "reserved";
}
bool is_reserved(LoginStage stage) {
    return stage != LoginStage::security && stage != LoginStage::operational && stage != LoginStage::full_feature;
}
}  // namespace

Login::Login(Connection& connection) : connection_(connection) {}

// RFC 7143 §6: the initiator sends Login Requests, each answered by one Login Response, through
// the security and operational stages until one response transits to the full feature phase.
asio::awaitable<void> Login::run(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        auto pdu = co_await connection_.channel().receive(deadline);
        if (!pdu) {
            if (pdu.error().code == iscsi::ChannelErrc::timed_out)
                connection_.close("login did not complete in time", true);
            else
                connection_.close(pdu.error().message, pdu.error().code != iscsi::ChannelErrc::closed);
            co_return;
        }
        if (pdu->bhs.opcode() != iscsi::Opcode::login_request) {
            // RFC 7143 §6.1: only Login Requests may be sent before the full feature phase.
            connection_.close(fmt::format("{} before login completed", iscsi::opcode_name(pdu->bhs.opcode())), true);
            co_return;
        }
        if (on_login_request(*pdu) == Step::finished) {
            if (delayed_) {
                // Brute-force throttle: the failure answer waits; nothing more is read meanwhile.
                asio::steady_timer timer(co_await asio::this_coro::executor, delayed_->delay);
                std::error_code ec;
                co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                if (!connection_.closed()) {
                    connection_.send(delayed_->bhs);
                    connection_.close_after_send("login failed");
                }
            }
            co_return;
        }
    }
}

Login::Step Login::on_login_request(const iscsi::Pdu& pdu) {
    iscsi::LoginRequestView req{pdu.bhs};
    if (!started_) {
        started_ = true;
        isid_ = req.isid();
        tsih_ = req.tsih();
        cid_ = req.cid();
        cmd_sn_ = req.cmd_sn();
        stat_sn_ = req.exp_stat_sn();
        current_stage_ = req.current_stage();
        negotiator_.emplace(connection_.server().local_limits(nullptr), tsih_ == 0);
    } else if (req.isid() != isid_ || req.tsih() != tsih_) {
        return fail(LoginStatus::initiator_error, "ISID or TSIH changed during login");
    }
    itt_ = pdu.bhs.initiator_task_tag();
    // RFC 7143 §11.12.4: we speak version 0 only.
    if (req.version_min() > 0)
        return fail(LoginStatus::unsupported_version, fmt::format("version-min {}", req.version_min()));

    const LoginStage csg = req.current_stage();
    const LoginStage nsg = req.next_stage();
    // §6.2: a login moves forward through security and operational negotiation, never back, and
    // a request is never in the full feature phase itself.
    if (is_reserved(csg) || csg == LoginStage::full_feature || csg < current_stage_)
        return fail(LoginStatus::initiator_error, fmt::format("login request in the {} stage after the {} stage",
                                                              stage_name(csg), stage_name(current_stage_)));
    if (req.transit() && req.continue_())
        return fail(LoginStatus::initiator_error, "both T and C bits set");  // §11.12.2
    if (req.transit() && (is_reserved(nsg) || nsg <= csg))
        return fail(LoginStatus::initiator_error,
                    fmt::format("transit from the {} stage to the {} stage", stage_name(csg), stage_name(nsg)));
    current_stage_ = csg;

    if (partial_text_.size() + pdu.data.size() > kMaxLoginText)
        return fail(LoginStatus::out_of_resources, "login text exceeds 64 KiB");
    partial_text_.insert(partial_text_.end(), pdu.data.begin(), pdu.data.end());
    if (req.continue_()) {
        // §6.2: more text follows; answer with an empty response in the same stage.
        respond(pdu.bhs, false, csg, LoginStage::security, {});
        return Step::next_request;
    }
    auto pairs = iscsi::parse_text(ConstByteSpan(partial_text_.data(), partial_text_.size()));
    partial_text_.clear();
    if (!pairs)
        return fail(LoginStatus::initiator_error,
                    std::string("malformed login text: ") + iscsi::text_error_name(pairs.error()));

    if (!identified_ && !identify(*pairs)) return Step::finished;
    // RFC 7143 §6.3: a target that requires authentication never leaves the security stage
    // before it succeeded, whatever stage the initiator claims.
    if (csg != LoginStage::security && authentication_pending())
        return fail(LoginStatus::authentication_failure,
                    "the initiator skipped the security stage; this target requires CHAP");

    iscsi::TextPairs answers;
    switch (negotiator_->respond(*pairs, csg == LoginStage::security, answers)) {
        case iscsi::NegotiationFailure::none: break;
        case iscsi::NegotiationFailure::missing_parameter:
            return fail(LoginStatus::missing_parameter, "a required key is missing");
        case iscsi::NegotiationFailure::session_type_not_supported:
            return fail(LoginStatus::session_type_not_supported, "unsupported SessionType");
        case iscsi::NegotiationFailure::key_in_wrong_phase:
            return fail(LoginStatus::initiator_error, "a key was sent in a stage where it is not allowed");
        case iscsi::NegotiationFailure::invalid_value:
            return fail(LoginStatus::initiator_error, "a key has a value the rules forbid");
        case iscsi::NegotiationFailure::protocol_error:
            return fail(LoginStatus::initiator_error,
                        "a key the initiator may not send, or one sent twice with different values");
    }
    if (csg == LoginStage::security)
        if (auto step = authenticate(*pairs, answers)) return *step;
    negotiator_->declare_target_keys(node_ ? node_->portal_group_tag : 1, answers, csg == LoginStage::security);

    // RFC 7143 §6.2: we stay in the stage while keys we offered are unanswered.
    const bool transit = req.transit() && !negotiator_->awaiting_answers() && !authentication_pending();
    if (transit && nsg == LoginStage::full_feature) {
        if (negotiator_->check_complete() != iscsi::NegotiationFailure::none)
            return fail(LoginStatus::missing_parameter, "InitiatorName or TargetName never came");
        return complete(pdu.bhs, answers);
    }
    if (transit) {
        current_stage_ = nsg;
        respond(pdu.bhs, true, csg, nsg, answers);
    } else {
        respond(pdu.bhs, false, csg, LoginStage::security, answers);
    }
    return Step::next_request;
}

std::optional<Login::Step> Login::authenticate(const iscsi::TextPairs& pairs, iscsi::TextPairs& answers) {
    if (iscsi::find_value(answers, "AuthMethod") == iscsi::kReject)
        return fail(LoginStatus::authentication_failure,
                    chap_required() ? "the initiator does not offer CHAP, and this target requires it"
                                    : "the initiator requires authentication; this target has no CHAP "
                                      "credentials for it (AuthMethod=None only)");
    if (negotiator_->auth_method() != "CHAP") return std::nullopt;
    if (!chap_) chap_.emplace(connection_.server().config().chap_algorithms, policy_.chap, policy_.mutual_chap);
    const auto failure = chap_->on_request(pairs, answers);
    if (failure == iscsi::ChapFailure::none) return std::nullopt;
    // The reason and the presented name go to the log, never a secret or a response.
    const std::string& user = chap_->presented_user();
    return fail(
        LoginStatus::authentication_failure,
        fmt::format("CHAP{}{}: {}", chap_->algorithm() ? fmt::format(" {}", chap_->algorithm()->name) : "",
                    user.empty() ? std::string() : fmt::format(" as '{}'", user), iscsi::chap_failure_text(failure)));
}

bool Login::identify(const iscsi::TextPairs& pairs) {
    std::string session_type = "Normal", target_name;
    bool has_target = false;
    for (const auto& [key, value] : pairs) {
        if (key == "InitiatorName")
            initiator_name_ = value;
        else if (key == "SessionType")
            session_type = value;
        else if (key == "TargetName") {
            target_name = value;
            has_target = true;
        }
    }
    // RFC 7143 §13.12/§13.4: InitiatorName, and TargetName for a normal session, come in the
    // first Login Request.
    if (initiator_name_.empty()) {
        fail(LoginStatus::missing_parameter, "no InitiatorName in the first login request");
        return false;
    }
    if (session_type == "Discovery") {
        discovery_ = true;
    } else if (session_type == "Normal") {
        if (!has_target) {
            fail(LoginStatus::missing_parameter, "no TargetName in the first login request of a normal session");
            return false;
        }
        node_ = connection_.server().find_target(target_name);
        if (!node_) {
            fail(LoginStatus::not_found, fmt::format("no target named '{}'", target_name));
            return false;
        }
    } else {
        fail(LoginStatus::session_type_not_supported, fmt::format("SessionType={}", session_type));
        return false;
    }
    connection_.set_log_prefix(fmt::format("[{} ini={} isid={:012x} {}]", node_ ? node_->iqn : std::string("discovery"),
                                           initiator_name_, isid_,
                                           connection_.remote_endpoint().address().to_string()));
    if (tsih_ != 0) {
        // Adding a connection to an existing session needs MaxConnections > 1, which we do not
        // offer: RFC 7143 §11.13.5 status 0x020a when the session is unknown, 0x0206 otherwise.
        if (!connection_.server().sessions().contains(tsih_))
            fail(LoginStatus::session_does_not_exist, fmt::format("TSIH {} is not a session of this target", tsih_));
        else
            fail(LoginStatus::too_many_connections, "MaxConnections is 1");
        return false;
    }
    auto& server = connection_.server();
    if (node_) {
        // A target is served only through its own portals (its portal group).
        if (auto portal = server.portal_of(connection_.local_endpoint()); portal && !node_->served_on(*portal)) {
            fail(LoginStatus::not_found,
                 fmt::format("target {} is not served on portal {}", node_->iqn, portal->to_string()));
            return false;
        }
        policy_ = server.access_of(*node_)->policy(initiator_name_);
        if (!policy_.allowed) {
            // RFC 7143 §11.13.5: 0202, the initiator is not allowed access to this target.
            fail(LoginStatus::authorization_failure,
                 fmt::format("initiator {} is not in the allow list of target {}", initiator_name_, node_->iqn));
            return false;
        }
    } else {
        policy_.allowed = true;
        policy_.chap = server.config().discovery_chap.credentials();
        policy_.mutual_chap = server.config().discovery_mutual_chap.credentials();
    }
    auto limits = server.local_limits(node_.get());
    limits.auth_methods = {chap_required() ? "CHAP" : "None"};
    negotiator_.emplace(limits, tsih_ == 0);
    identified_ = true;
    return true;
}

void Login::respond(const iscsi::Bhs& request, bool transit, LoginStage csg, LoginStage nsg,
                    const iscsi::TextPairs& answers) {
    iscsi::Bhs bhs;
    bhs.set_opcode(iscsi::Opcode::login_response);
    iscsi::LoginResponseView rsp{bhs};
    rsp.set_transit(transit);
    rsp.set_stages(csg, transit ? nsg : LoginStage::security);
    rsp.set_version_max(0);
    rsp.set_version_active(0);
    rsp.set_isid(isid_);
    rsp.set_tsih(tsih_);
    bhs.set_initiator_task_tag(request.initiator_task_tag());
    rsp.set_stat_sn(stat_sn_++);
    rsp.set_exp_cmd_sn(cmd_sn_);
    rsp.set_max_cmd_sn(cmd_sn_ + connection_.server().config().max_queued_commands - 1);
    rsp.set_status(LoginStatus::success);
    auto text = iscsi::build_text(answers);
    connection_.send_copy(bhs, ConstByteSpan(text.data(), text.size()));
}

Login::Step Login::fail(LoginStatus status, const std::string& why) {
    spdlog::warn("{} login failed (status {:#06x}): {}", connection_.log_prefix(), static_cast<unsigned>(status), why);
    connection_.server().counters().login_failed(status);
    iscsi::Bhs bhs;
    bhs.set_opcode(iscsi::Opcode::login_response);
    iscsi::LoginResponseView rsp{bhs};
    rsp.set_isid(isid_);
    rsp.set_tsih(tsih_);
    bhs.set_initiator_task_tag(itt_);
    rsp.set_stat_sn(stat_sn_++);
    rsp.set_exp_cmd_sn(cmd_sn_);
    rsp.set_max_cmd_sn(cmd_sn_);
    rsp.set_status(status);
    if (status == LoginStatus::authentication_failure || status == LoginStatus::authorization_failure) {
        delayed_ = DelayedFailure{
            bhs, connection_.server().login_throttle().failed(connection_.remote_endpoint().address().to_string())};
        spdlog::info("{} answering after {} ms (failed logins from this address wait longer each time)",
                     connection_.log_prefix(), delayed_->delay.count());
        return Step::finished;
    }
    connection_.send(bhs);
    // RFC 7143 §6.1: after a login reject the target closes the connection.
    connection_.close_after_send("login failed");
    return Step::finished;
}

SessionInfo Login::session_info(const iscsi::SessionParams& params) const {
    SessionInfo info;
    info.remote = connection_.remote_endpoint().address().to_string();
    const auto local = connection_.local_endpoint();
    auto portal = connection_.server().portal_of(local);
    info.portal = portal ? portal->to_string() : PortalAddress{local.address().to_string(), local.port()}.to_string();
    info.authentication = chap_ && chap_->authenticated()
                              ? fmt::format("CHAP {} as '{}'{}", chap_->algorithm()->name, chap_->presented_user(),
                                            chap_->mutual() ? " (mutual)" : "")
                              : std::string("none");
    info.header_digest = params.header_digest;
    info.data_digest = params.data_digest;
    info.max_recv_data_segment_length = params.initiator_max_recv_data_segment_length;
    info.max_burst_length = params.max_burst_length;
    info.first_burst_length = params.first_burst_length;
    info.immediate_data = params.immediate_data;
    info.initial_r2t = params.initial_r2t;
    return info;
}

Login::Step Login::complete(const iscsi::Bhs& request, const iscsi::TextPairs& answers) {
    if (connection_.server().stopping()) return fail(LoginStatus::service_unavailable, "target is shutting down");
    auto self = connection_.shared_from_this();
    std::weak_ptr<Connection> weak = self;
    auto& reactor = connection_.reactor();
    // Registered with what session ls shows, so that no one sees the session half described.
    SessionInfo info = session_info(negotiator_->params());
    const std::string auth = info.authentication;
    auto tsih = connection_.server().sessions().add(
        {initiator_name_, isid_, node_ ? node_->iqn : std::string()},
        [weak, &reactor] {
            asio::post(reactor.context(), [weak] {
                if (auto c = weak.lock()) c->close("session reinstated or target stopping");
            });
        },
        std::move(info),
        [weak, &reactor](const scsi::LogicalUnit* unit, const scsi::Command* except, std::function<void()> done) {
            asio::post(reactor.context(), [weak, unit, except, done = std::move(done)] {
                if (auto c = weak.lock(); c && c->session()) c->session()->abort_tasks_of(unit, except);
                done();
            });
        });
    if (!tsih) return fail(LoginStatus::out_of_resources, "no free TSIH");
    tsih_ = *tsih;
    connection_.server().login_throttle().succeeded(connection_.remote_endpoint().address().to_string());

    SessionSetup setup;
    setup.node = node_;
    setup.params = negotiator_->params();
    setup.params.discovery = discovery_;
    setup.params.initiator_name = initiator_name_;
    setup.tsih = tsih_;
    setup.isid = isid_;
    setup.cid = cid_;
    setup.exp_cmd_sn = cmd_sn_;
    setup.stat_sn = stat_sn_ + 1;  // the final login response takes stat_sn_
    respond(request, true, current_stage_, LoginStage::full_feature, answers);
    // Digests and the receive limit apply from the first PDU after the final login response.
    connection_.set_limits(
        {setup.params.target_max_recv_data_segment_length, setup.params.header_digest, setup.params.data_digest});
    spdlog::info(
        "{} logged in: {} session TSIH {}, authentication {}, header digest {}, data digest {}, "
        "MaxRecvDataSegmentLength {}/{}, "
        "MaxBurstLength {}, FirstBurstLength {}, InitialR2T {}, ImmediateData {}",
        connection_.log_prefix(), discovery_ ? "discovery" : "normal", tsih_, auth, setup.params.header_digest,
        setup.params.data_digest, setup.params.initiator_max_recv_data_segment_length,
        setup.params.target_max_recv_data_segment_length, setup.params.max_burst_length,
        setup.params.first_burst_length, setup.params.initial_r2t, setup.params.immediate_data);
    connection_.enter_full_feature_phase(std::make_unique<Session>(connection_, std::move(setup)));
    return Step::finished;
}

}  // namespace iscsikit::target
