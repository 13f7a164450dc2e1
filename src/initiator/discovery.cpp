// Discovery (RFC 7143 §4.3, Appendix C): a discovery session, SendTargets=All, logout.
#include <fmt/format.h>

#include "initiator/login.hpp"
#include "initiator/session.hpp"
#include "iscsi/text.hpp"

namespace iscsikit::initiator {

namespace {

constexpr int kMaxTextRounds = 64;  // continued Text Responses; a bounded answer

asio::awaitable<Result<iscsi::Pdu>> request(Connection& conn, iscsi::Bhs bhs, std::vector<std::byte> data,
                                            Clock::time_point deadline, iscsi::Opcode expected) {
    iscsi::Pdu pdu;
    pdu.bhs = bhs;
    pdu.data = std::move(data);
    auto got = co_await conn.exchange(pdu, deadline);
    if (!got) co_return got;
    if (got->bhs.opcode() != expected)
        co_return fail(ErrorKind::protocol_error,
                       fmt::format("{} answered with {} where {} was due", conn.portal().to_string(),
                                   iscsi::opcode_name(got->bhs.opcode()), iscsi::opcode_name(expected)));
    co_return got;
}

}  // namespace

asio::awaitable<Result<std::vector<DiscoveredTarget>>> discover(asio::any_io_executor executor, Url url,
                                                                SessionOptions opts) {
    LoginRequest req;
    req.portal = url.portal;
    req.initiator_name = opts.initiator_name.empty() ? default_initiator_name() : opts.initiator_name;
    req.initiator_alias = opts.initiator_alias;
    fill_chap(req, url.user.empty() ? opts.chap : iscsi::ChapCredentials{url.user, url.password}, opts.mutual_chap,
              opts.chap_algorithms);
    req.isid = random_isid();
    req.limits.max_recv_data_segment_length = opts.max_recv_data_segment_length;
    req.limits.allow_header_digest = opts.header_digest;
    req.limits.allow_data_digest = opts.data_digest;
    req.deadline = Clock::now() + opts.login_timeout;
    auto session = co_await login(executor, req);
    if (!session) co_return tl::unexpected(session.error());
    Connection& conn = *session->connection;
    std::uint32_t cmd_sn = session->exp_cmd_sn;
    std::uint32_t exp_stat_sn = session->exp_stat_sn;
    const auto deadline = Clock::now() + opts.command_timeout;

    // §11.10: SendTargets=All; a long answer comes in continued Text Responses, each fetched with
    // an empty Text Request carrying the target's TTT.
    std::vector<std::byte> answer;
    std::uint32_t ttt = iscsi::kReservedTag;
    for (int round = 0;; ++round) {
        if (round == kMaxTextRounds) co_return fail(ErrorKind::protocol_error, "the SendTargets answer did not end");
        iscsi::Bhs bhs;
        bhs.set_opcode(iscsi::Opcode::text_request);
        bhs.set_final(true);
        bhs.set_initiator_task_tag(1);
        iscsi::TextRequestView v{bhs};
        v.set_target_transfer_tag(ttt);
        v.set_cmd_sn(cmd_sn);
        v.set_exp_stat_sn(exp_stat_sn);
        std::vector<std::byte> keys;
        if (round == 0) keys = iscsi::build_text({{"SendTargets", "All"}});
        auto got = co_await request(conn, bhs, std::move(keys), deadline, iscsi::Opcode::text_response);
        if (!got) co_return tl::unexpected(got.error());
        iscsi::TextResponseView r{got->bhs};
        ++cmd_sn;
        exp_stat_sn = r.stat_sn() + 1;
        answer.insert(answer.end(), got->data.begin(), got->data.end());
        if (!r.continue_()) break;
        ttt = r.target_transfer_tag();
    }
    auto pairs = iscsi::parse_text(answer);
    if (!pairs)
        co_return fail(ErrorKind::protocol_error,
                       fmt::format("malformed SendTargets answer from {} ({})", url.portal.to_string(),
                                   iscsi::text_error_name(pairs.error())));
    std::vector<DiscoveredTarget> targets;
    for (const auto& [key, value] : *pairs) {
        if (key == "TargetName") {
            targets.push_back(DiscoveredTarget{value, {}});
        } else if (key == "TargetAddress" && !targets.empty()) {
            targets.back().addresses.push_back(value);
        }
    }

    // §11.14: close the discovery session; a failure here loses nothing.
    iscsi::Bhs bye;
    bye.set_opcode(iscsi::Opcode::logout_request);
    bye.set_immediate(true);
    bye.set_final(true);
    bye.set_initiator_task_tag(2);
    iscsi::LogoutRequestView lv{bye};
    lv.set_reason(iscsi::LogoutReason::close_session);
    lv.set_cmd_sn(cmd_sn);
    lv.set_exp_stat_sn(exp_stat_sn);
    auto farewell = co_await request(conn, bye, std::vector<std::byte>{}, Clock::now() + opts.abort_timeout,
                                     iscsi::Opcode::logout_response);
    (void)farewell;
    conn.close();
    co_return targets;
}

}  // namespace iscsikit::initiator
