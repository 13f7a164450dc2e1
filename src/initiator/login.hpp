// The initiator's login (RFC 7143 §6.3, §11.12): the security stage (AuthMethod None or CHAP),
// the operational stage through iscsi::InitiatorNegotiator, redirection, and Status-Class/Detail
// turned into errors a person can read.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "initiator/connection.hpp"
#include "initiator/error.hpp"
#include "initiator/url.hpp"
#include "iscsi/chap.hpp"
#include "iscsi/params.hpp"

namespace iscsikit::initiator {

struct LoginRequest {
    Portal portal;
    std::string initiator_name, initiator_alias;
    std::string target_name;     // empty: a discovery session
    std::string user, password;  // CHAP, when the target asks for it
    // Mutual CHAP: the name and secret the target must answer our challenge with; empty: the
    // target is not asked to authenticate itself.
    std::string mutual_user, mutual_password;
    std::vector<iscsi::ChapAlgorithm> chap_algorithms;  // offered in this order; empty: all, strongest first
    std::uint64_t isid = 0;                             // 48 bits
    std::uint16_t tsih = 0;                             // 0: a new session (or reinstatement of one with this ISID)
    std::uint32_t cmd_sn = 1;
    iscsi::LocalLimits limits;
    Clock::time_point deadline;
    // Set: connect through it instead of TCP (SessionOptions::transport).
    std::function<std::unique_ptr<iscsi::ByteTransport>(asio::any_io_executor, const Portal&)> transport;
};

struct LoginResult {
    std::shared_ptr<Connection> connection;  // in full feature phase, not started
    iscsi::SessionParams params;
    std::uint16_t tsih = 0;
    std::uint32_t exp_stat_sn = 0;
    std::uint32_t exp_cmd_sn = 0, max_cmd_sn = 0;
    Portal portal;  // where the session ended up (after a redirect)
};

// Connects to req.portal and logs in, following up to 3 redirections. Fails with unreachable,
// target_not_found, auth_failed or login_failed.
asio::awaitable<Result<LoginResult>> login(asio::any_io_executor executor, LoginRequest req);

// Sets req's CHAP fields: what we present, what the target must answer with, the algorithms.
void fill_chap(LoginRequest& req, const iscsi::ChapCredentials& chap, const iscsi::ChapCredentials& mutual,
               const std::vector<iscsi::ChapAlgorithm>& algorithms);

// A random ISID of type "random" (RFC 7143 §11.12.5: T=01b, A and B/C random).
std::uint64_t random_isid();

// The error for a failed Login Response's status, naming the target and portal.
Error login_status_error(iscsi::LoginStatus status, const std::string& target, const Portal& portal);

}  // namespace iscsikit::initiator
