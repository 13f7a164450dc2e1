// The initiator's login exchange (RFC 7143 §6.3, §11.12, §11.13, §12.1.3).
#include "initiator/login.hpp"

#include <algorithm>
#include <random>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "iscsi/chap.hpp"
#include "iscsi/text.hpp"

namespace iscsikit::initiator {

namespace {

using iscsi::LoginStage;
using iscsi::LoginStatus;

constexpr int kMaxRedirects = 3;
constexpr int kMaxLoginRounds = 16;  // PDUs per login; a target that needs more is broken
constexpr std::uint32_t kLoginItt = 0;

std::string status_hex(LoginStatus s) { return fmt::format("{:04x}", static_cast<unsigned>(s)); }

// One login session's state across its PDUs.
class LoginExchange {
public:
    LoginExchange(const LoginRequest& req, Connection& conn)
        : req_(req), conn_(conn), negotiator_(req.limits, req.target_name.empty()) {}

    asio::awaitable<Result<LoginResult>> run();
    // The CHAP exchange after AuthMethod=CHAP settled; returns the last answers.
    asio::awaitable<Result<iscsi::TextPairs>> chap();
    // Set when the target redirected us (Status-Class 1).
    std::optional<Portal> redirect;
    // Set when the target chose a CHAP algorithm other than MD5 and then refused our response as
    // an initiator error: tgt 1.0.x answers CHAP_A=7 and computes SHA-1 (7 is SHA-256, IANA), so
    // login() tries once more offering MD5 alone. Only with the default algorithm list.
    bool retry_with_md5 = false;

private:
    // Sends one Login Request and returns the target's (joined, if continued) answer pairs.
    asio::awaitable<Result<iscsi::TextPairs>> step(LoginStage csg, LoginStage nsg, bool transit,
                                                   const iscsi::TextPairs& keys);

    const LoginRequest& req_;
    Connection& conn_;
    iscsi::InitiatorNegotiator negotiator_;
    std::uint32_t exp_stat_sn_ = 0;
    std::uint16_t tsih_ = 0;
    bool transit_ = false;     // the last response had T=1
    LoginStage next_stage_{};  // ... to this stage
    std::uint32_t exp_cmd_sn_ = 0, max_cmd_sn_ = 0;
    int rounds_ = 0;
    LoginStatus last_status_ = LoginStatus::success;  // of the last Login Response
};

asio::awaitable<Result<iscsi::TextPairs>> LoginExchange::step(LoginStage csg, LoginStage nsg, bool transit,
                                                              const iscsi::TextPairs& keys) {
    iscsi::TextPairs answers;
    bool more = false;
    do {
        if (++rounds_ > kMaxLoginRounds)
            co_return fail(ErrorKind::login_failed, fmt::format("login to {} did not finish after {} PDUs",
                                                                req_.portal.to_string(), kMaxLoginRounds));
        iscsi::Pdu pdu;
        iscsi::LoginRequestView v{pdu.bhs};
        pdu.bhs.set_opcode(iscsi::Opcode::login_request);
        pdu.bhs.set_immediate(true);  // §11.12: login requests are immediate
        v.set_transit(transit && !more);
        v.set_stages(csg, nsg);
        v.set_isid(req_.isid);
        v.set_tsih(req_.tsih);
        pdu.bhs.set_initiator_task_tag(kLoginItt);
        v.set_cid(0);
        v.set_cmd_sn(req_.cmd_sn);
        v.set_exp_stat_sn(exp_stat_sn_);
        if (!more) pdu.data = iscsi::build_text(keys);  // a continuation request carries no keys
        auto got = co_await conn_.exchange(pdu, req_.deadline);
        if (!got) co_return tl::unexpected(got.error());
        const iscsi::Bhs& bhs = got->bhs;
        if (bhs.opcode() != iscsi::Opcode::login_response)
            co_return fail(ErrorKind::login_failed,
                           fmt::format("{} answered a Login Request with {}", req_.portal.to_string(),
                                       iscsi::opcode_name(bhs.opcode())));
        iscsi::LoginResponseView r{bhs};
        exp_stat_sn_ = r.stat_sn() + 1;
        const LoginStatus status = r.status();
        last_status_ = status;
        if (status != LoginStatus::success) {
            Error error = login_status_error(status, req_.target_name, req_.portal);
            if ((static_cast<unsigned>(status) >> 8) == 1) {  // §11.13.5: redirection to TargetAddress
                auto pairs = iscsi::parse_text(got->data);
                const auto addr = pairs ? iscsi::find_value(*pairs, "TargetAddress") : std::nullopt;
                if (!addr) {
                    error.message += "; it names no TargetAddress to follow";
                    co_return tl::unexpected(error);
                }
                // "host:port,tag" (§13.8): the portal group tag is not part of the address (with no
                // comma, rfind's npos keeps the whole text).
                auto portal = parse_portal(std::string_view(*addr).substr(0, addr->rfind(',')));
                if (!portal) {
                    error.message += "; its TargetAddress cannot be followed: " + portal.error().message;
                    co_return tl::unexpected(error);
                }
                redirect = *portal;
            }
            co_return tl::unexpected(error);
        }
        auto pairs = iscsi::parse_text(got->data);
        if (!pairs)
            co_return fail(ErrorKind::login_failed,
                           fmt::format("{} sent malformed login text ({})", req_.portal.to_string(),
                                       iscsi::text_error_name(pairs.error())));
        answers.insert(answers.end(), pairs->begin(), pairs->end());
        more = r.continue_();
        transit_ = r.transit();
        next_stage_ = r.next_stage();
        tsih_ = r.tsih();
        exp_cmd_sn_ = r.exp_cmd_sn();
        max_cmd_sn_ = r.max_cmd_sn();
    } while (more);
    co_return answers;
}

asio::awaitable<Result<iscsi::TextPairs>> LoginExchange::chap() {
    // RFC 7143 §12.1.3: CHAP_A, then the target's CHAP_I and CHAP_C, then our CHAP_N and CHAP_R
    // (and, for mutual CHAP, our CHAP_I and CHAP_C, which the target's CHAP_N and CHAP_R answer).
    const auto offered = req_.chap_algorithms.empty() ? iscsi::default_chap_algorithms() : req_.chap_algorithms;
    std::string list;
    for (auto id : offered) list += (list.empty() ? "" : ",") + std::to_string(static_cast<unsigned>(id));
    // (Keys built outside co_await: GCC 12 miscompiles braced lists in coroutine arguments.)
    const iscsi::TextPairs chap_a{{"CHAP_A", list}};
    auto challenge = co_await step(LoginStage::security, LoginStage::operational, false, chap_a);
    if (!challenge) co_return tl::unexpected(challenge.error());
    const auto algorithm_text = iscsi::find_value(*challenge, "CHAP_A");
    const auto id = iscsi::find_value(*challenge, "CHAP_I");
    const auto c = iscsi::find_value(*challenge, "CHAP_C");
    const auto* algorithm = algorithm_text ? iscsi::find_chap_algorithm(*algorithm_text) : nullptr;
    auto bytes = c ? iscsi::decode_binary_value(*c) : std::nullopt;
    auto identifier = id ? iscsi::parse_numeric_value(*id) : std::nullopt;
    const bool offered_it = algorithm && std::find(offered.begin(), offered.end(), algorithm->id) != offered.end();
    if (!offered_it || !bytes || bytes->empty() || bytes->size() > iscsi::kMaxChapChallengeLength || !identifier ||
        *identifier > 255)
        co_return fail(ErrorKind::auth_failed,
                       fmt::format("authentication failed at {}: the target's CHAP challenge is not usable "
                                   "(CHAP_A={}, we offered {})",
                                   req_.portal.to_string(), algorithm_text ? *algorithm_text : "none", list));
    auto response = iscsi::chap_response(algorithm->id, static_cast<std::uint8_t>(*identifier), req_.password, *bytes);
    if (response.empty())
        co_return fail(ErrorKind::auth_failed, fmt::format("authentication failed at {}: CHAP with {} is not "
                                                           "available in this OpenSSL",
                                                           req_.portal.to_string(), algorithm->name));
    iscsi::TextPairs chap_r{{"CHAP_N", req_.user}, {"CHAP_R", iscsi::encode_hex_value(response)}};
    std::uint8_t our_id = 0;
    std::vector<std::uint8_t> our_challenge;
    const bool mutual = !req_.mutual_user.empty();
    if (mutual) {
        our_id = iscsi::chap_random_bytes(1)[0];
        // §12.1.3: never the target's own challenge sent back (a CSPRNG's 16+ bytes never are).
        do {
            our_challenge = iscsi::chap_random_bytes(algorithm->digest_length);
        } while (iscsi::chap_equal(our_challenge, *bytes));
        chap_r.emplace_back("CHAP_I", std::to_string(our_id));
        chap_r.emplace_back("CHAP_C", iscsi::encode_hex_value(our_challenge));
    }
    auto answers = co_await step(LoginStage::security, LoginStage::operational, true, chap_r);
    if (!answers) {
        retry_with_md5 = last_status_ == LoginStatus::initiator_error && algorithm->id != iscsi::ChapAlgorithm::md5 &&
                         req_.chap_algorithms.empty();
        co_return tl::unexpected(answers.error());
    }
    if (mutual) {
        const auto name = iscsi::find_value(*answers, "CHAP_N");
        const auto r = iscsi::find_value(*answers, "CHAP_R");
        auto got = r ? iscsi::decode_binary_value(*r) : std::nullopt;
        const auto expected = iscsi::chap_response(algorithm->id, our_id, req_.mutual_password, our_challenge);
        if (!name || !got || *name != req_.mutual_user || !iscsi::chap_equal(*got, expected))
            co_return fail(ErrorKind::auth_failed,
                           fmt::format("authentication failed at {}: the target did not prove it knows the mutual "
                                       "CHAP secret ({})",
                                       req_.portal.to_string(),
                                       !name || !r ? "no CHAP_N/CHAP_R in its answer"
                                       : *name != req_.mutual_user
                                           ? fmt::format("it answered as '{}', not '{}'", *name, req_.mutual_user)
                                           : "wrong CHAP_R"));
    }
    co_return std::move(*answers);
}

asio::awaitable<Result<LoginResult>> LoginExchange::run() {
    const bool discovery = req_.target_name.empty();
    const bool have_credentials = !req_.user.empty();
    const bool mutual = !req_.mutual_user.empty();
    // With mutual CHAP configured, a target that does not authenticate itself is not the one we
    // mean to reach: None is not offered then.
    const std::string methods = !have_credentials ? "None" : mutual ? "CHAP" : "CHAP,None";
    // Security stage (§6.3.1): names, session type and the authentication methods we can do.
    iscsi::TextPairs keys{{"InitiatorName", req_.initiator_name}};
    if (!req_.initiator_alias.empty()) keys.emplace_back("InitiatorAlias", req_.initiator_alias);
    keys.emplace_back("SessionType", discovery ? "Discovery" : "Normal");
    if (!discovery) keys.emplace_back("TargetName", req_.target_name);
    keys.emplace_back("AuthMethod", methods);
    auto answers = co_await step(LoginStage::security, LoginStage::operational, !have_credentials, keys);
    if (!answers) co_return tl::unexpected(answers.error());

    const auto method = iscsi::find_value(*answers, "AuthMethod");
    if (method && *method == "CHAP") {
        auto authenticated = co_await chap();
        if (!authenticated) co_return tl::unexpected(authenticated.error());
        answers = std::move(*authenticated);
    } else if (method && *method == iscsi::kReject) {
        co_return fail(
            ErrorKind::auth_failed,
            fmt::format("authentication failed at {}: the target accepts none of our methods ({}){}",
                        req_.portal.to_string(), methods,
                        have_credentials ? "" : "; give CHAP credentials as iscsi://user%password@host/..."));
    } else if (mutual) {
        co_return fail(ErrorKind::auth_failed,
                       fmt::format("authentication failed at {}: mutual CHAP is configured and the target did not "
                                   "authenticate itself",
                                   req_.portal.to_string()));
    }
    // A target may need more security-stage rounds before it lets us transit.
    const iscsi::TextPairs nothing;
    while (!(transit_ && next_stage_ != LoginStage::security)) {
        answers = co_await step(LoginStage::security, LoginStage::operational, true, nothing);
        if (!answers) co_return tl::unexpected(answers.error());
    }

    // Operational stage (§6.3.2), unless the target went straight to full feature phase.
    if (next_stage_ == LoginStage::operational) {
        iscsi::TextPairs offer = negotiator_.operational_offer();
        for (;;) {
            answers = co_await step(LoginStage::operational, LoginStage::full_feature, true, offer);
            if (!answers) co_return tl::unexpected(answers.error());
            if (auto failure = negotiator_.apply_answers(*answers); failure != iscsi::NegotiationFailure::none)
                co_return fail(ErrorKind::login_failed,
                               fmt::format("login to {} failed: the target answered a key against RFC 7143 §13",
                                           req_.portal.to_string()));
            offer = negotiator_.take_replies();
            if (transit_ && next_stage_ == LoginStage::full_feature && offer.empty()) break;
        }
    } else if (next_stage_ != LoginStage::full_feature) {
        co_return fail(ErrorKind::login_failed,
                       fmt::format("{} asked for an invalid login stage", req_.portal.to_string()));
    }

    LoginResult result;
    result.params = negotiator_.params();
    result.params.target_name = req_.target_name;
    result.params.initiator_name = req_.initiator_name;
    result.tsih = tsih_;
    result.exp_stat_sn = exp_stat_sn_;
    result.exp_cmd_sn = exp_cmd_sn_;
    result.max_cmd_sn = max_cmd_sn_;
    result.portal = req_.portal;
    co_return result;
}

}  // namespace

void fill_chap(LoginRequest& req, const iscsi::ChapCredentials& chap, const iscsi::ChapCredentials& mutual,
               const std::vector<iscsi::ChapAlgorithm>& algorithms) {
    req.user = chap.user;
    req.password = chap.secret;
    req.mutual_user = mutual.user;
    req.mutual_password = mutual.secret;
    req.chap_algorithms = algorithms;
}

std::uint64_t random_isid() {
    std::random_device rd;
    std::uint64_t random = (std::uint64_t{rd()} << 32) | rd();
    // T=01b (random), A=0, then 16 bits B, 8 bits C random, 16 bits D (qualifier) random.
    return (std::uint64_t{0x40} << 40) | (random & 0xffffffffffULL);
}

Error login_status_error(LoginStatus status, const std::string& target, const Portal& portal) {
    const std::string where = portal.to_string();
    const std::string code = status_hex(status);
    switch (status) {
        case LoginStatus::authentication_failure:
            return make_error(ErrorKind::auth_failed,
                              fmt::format("authentication failed at {} (login status {})", where, code));
        case LoginStatus::authorization_failure:
            return make_error(
                ErrorKind::auth_failed,
                fmt::format("not authorized to log in to {} at {} (login status {})", target, where, code));
        case LoginStatus::not_found:
        case LoginStatus::target_removed:
            return make_error(ErrorKind::target_not_found,
                              fmt::format("target {} not found at {} (login status {})", target, where, code));
        case LoginStatus::target_moved_temporarily:
        case LoginStatus::target_moved_permanently:
            return make_error(ErrorKind::login_failed,
                              fmt::format("target {} moved away from {} (login status {})", target, where, code));
        case LoginStatus::service_unavailable:
        case LoginStatus::out_of_resources:
            return make_error(
                ErrorKind::login_failed,
                fmt::format("target at {} is unavailable or out of resources (login status {})", where, code));
        default: break;
    }
    const unsigned cls = static_cast<unsigned>(status) >> 8;
    return make_error(ErrorKind::login_failed, fmt::format("login to {} at {} refused: {} (login status {})",
                                                           target.empty() ? "discovery" : target, where,
                                                           cls == 2   ? "initiator error"
                                                           : cls == 3 ? "target error"
                                                                      : "unexpected status",
                                                           code));
}

asio::awaitable<Result<LoginResult>> login(asio::any_io_executor executor, LoginRequest req) {
    for (int hop = 0;; ++hop) {
        // Two statements, not a conditional around co_await: GCC 12 miscompiles that form.
        Result<std::shared_ptr<Connection>> conn;
        if (req.transport)
            conn = std::make_shared<Connection>(req.transport(executor, req.portal), req.portal);
        else
            conn = co_await Connection::open(executor, req.portal, req.deadline);
        if (!conn) co_return tl::unexpected(conn.error());
        LoginExchange exchange(req, **conn);
        auto result = co_await exchange.run();
        if (result) {
            (*conn)->configure(result->params.header_digest, result->params.data_digest,
                               result->params.initiator_max_recv_data_segment_length);
            result->connection = *conn;
            // The same words as the target's "logged in" line, so bench/compare.sh reads both alike.
            const auto& p = result->params;
            spdlog::debug(
                "logged in to {} at {}: TSIH {}, header digest {}, data digest {}, MaxRecvDataSegmentLength "
                "{}/{}, MaxBurstLength {}, FirstBurstLength {}, InitialR2T {}, ImmediateData {}",
                req.target_name.empty() ? "discovery" : req.target_name, req.portal.to_string(), result->tsih,
                p.header_digest, p.data_digest, p.initiator_max_recv_data_segment_length,
                p.target_max_recv_data_segment_length, p.max_burst_length, p.first_burst_length, p.initial_r2t,
                p.immediate_data);
            co_return result;
        }
        (*conn)->close();
        if (exchange.retry_with_md5) {
            spdlog::info(
                "{} refused our CHAP response as an initiator error after choosing an algorithm other than "
                "MD5 (tgt reads CHAP_A=7 as SHA-1); trying again with MD5 only (--chap-algorithms pins the "
                "list)",
                req.portal.to_string());
            req.chap_algorithms = {iscsi::ChapAlgorithm::md5};
            --hop;
            continue;
        }
        if (!exchange.redirect) co_return tl::unexpected(result.error());
        if (hop == kMaxRedirects) {
            Error error = result.error();
            error.message += fmt::format("; gave up after {} redirects", kMaxRedirects);
            co_return tl::unexpected(error);
        }
        spdlog::info("login: {} redirects to {}", req.portal.to_string(), exchange.redirect->to_string());
        req.portal = *exchange.redirect;
    }
}

}  // namespace iscsikit::initiator
