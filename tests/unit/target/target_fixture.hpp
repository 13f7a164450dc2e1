// A target::Server started inside the test process on 127.0.0.1 with a kernel-chosen port, two
// 1 MiB RAM LUNs of 512-byte blocks, and helpers to reach it with RawClient.
#pragma once

#include <cstdlib>
#include <functional>
#include <memory>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "target/config.hpp"
#include "target/server.hpp"
#include "raw_client.hpp"

namespace iscsikit::target::testing {

inline constexpr std::uint32_t kBlock = 512;
inline constexpr std::uint64_t kLunBytes = 1u << 20;

// A port nobody listens on right now (for configurations that must name their port: SendTargets
// answers carry the configured one).
inline std::uint16_t pick_free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
}

// The LUN numbers REPORT LUNS answers `client` (flat or peripheral addressing); empty on an error.
inline std::vector<std::uint64_t> report_luns(RawClient& client) {
    Cdb cdb{};
    cdb[0] = 0xa0;
    cdb[9] = 255;
    auto r = client.execute(cdb, 255, true, false);
    std::vector<std::uint64_t> out;
    if (r.status != 0 || r.data.size() < 8) return out;
    const auto byte = [&](std::size_t i) { return std::to_integer<std::uint64_t>(r.data[i]); };
    const std::size_t length = byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
    for (std::size_t i = 8; i + 8 <= 8 + length && i + 8 <= r.data.size(); i += 8)
        out.push_back((byte(i) & 0x3f) << 8 | byte(i + 1));
    return out;
}

// Test names for the task-set functions a parameterized test runs over.
inline std::string task_set_function_name(const ::testing::TestParamInfo<iscsi::TaskFunction>& info) {
    switch (info.param) {
        case iscsi::TaskFunction::abort_task_set: return "AbortTaskSet";
        case iscsi::TaskFunction::clear_task_set: return "ClearTaskSet";
        case iscsi::TaskFunction::logical_unit_reset: return "LogicalUnitReset";
        case iscsi::TaskFunction::target_warm_reset: return "TargetWarmReset";
        case iscsi::TaskFunction::target_cold_reset: return "TargetColdReset";
        default: return "Function" + std::to_string(static_cast<unsigned>(info.param));
    }
}

class TargetTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (const char* level = std::getenv("ISCSIKIT_TEST_LOG"))
            spdlog::set_level(spdlog::level::from_str(level));
        else
            spdlog::set_level(spdlog::level::off);
    }
    void TearDown() override {
        if (server_) server_->stop(std::chrono::milliseconds(0));
        server_.reset();
    }

    static DaemonConfig base_config() {
        DaemonConfig config;
        config.reactors = 2;
        TargetSpec target;
        target.iqn = kTargetIqn;
        target.portals.push_back(PortalAddress{"127.0.0.1", 0});
        LunSpec lun;
        lun.kind = LunSpec::Kind::ram;
        lun.size = kLunBytes;
        lun.block_size = kBlock;
        target.luns = {lun, lun};
        config.targets.push_back(target);
        return config;
    }

    void start(const std::function<void(DaemonConfig&)>& tweak = {}) {
        DaemonConfig config = base_config();
        if (tweak) tweak(config);
        server_ = std::make_unique<Server>(std::move(config));
        server_->start();
        auto endpoints = server_->bound_endpoints();
        ASSERT_FALSE(endpoints.empty());
        port_ = endpoints.front().port();
    }

    std::uint16_t port() const { return port_; }
    Server& server() { return *server_; }

    // A client on the in-process seam (Server::connect_in_process): the target's connection
    // code runs exactly as for TCP, with no socket in between.
    std::unique_ptr<RawClient> connect() {
        return std::make_unique<RawClient>(
            [this](asio::any_io_executor executor) { return server_->connect_in_process(std::move(executor)); });
    }
    // A client over TCP on 127.0.0.1, for what only a socket shows (portals, accept, resets).
    std::unique_ptr<RawClient> connect_tcp() {
        auto client = std::make_unique<RawClient>(port_);
        EXPECT_TRUE(client->connected()) << "cannot connect to 127.0.0.1:" << port_;
        return client;
    }

    // A client logged in with the libiscsi keys changed by `changes`; nullptr (and a test failure)
    // when the login does not succeed. With `clear_ua`, the first TEST UNIT READY's UNIT ATTENTION
    // 29h/00h is taken. With `tcp`, over a socket (connect_tcp) instead of the seam.
    std::unique_ptr<RawClient> logged_in(const TextPairs& changes = {}, bool clear_ua = true, bool tcp = false) {
        auto client = tcp ? connect_tcp() : connect();
        if (!client->connected()) return nullptr;
        auto result = client->login(with(libiscsi_keys(client->initiator_name), changes));
        if (!result) {
            ADD_FAILURE() << "login: " << recv_error_name(result.error());
            return nullptr;
        }
        if (result->status() != 0) {
            ADD_FAILURE() << "login status " << std::hex << result->status();
            return nullptr;
        }
        if (clear_ua) {
            auto first = client->execute(test_unit_ready(), 0, false, false);
            auto second = client->execute(test_unit_ready(), 0, false, false);
            if (!second.completed || second.status != 0) {
                ADD_FAILURE() << "TEST UNIT READY after the unit attention: status " << int(second.status) << " "
                              << second.error << " (first: " << int(first.status) << ")";
                return nullptr;
            }
        }
        return client;
    }

    // The target still serves: a new connection logs in and a command completes.
    void expect_fresh_login_works() {
        auto client = logged_in();
        ASSERT_NE(client, nullptr) << "the target no longer serves a fresh login";
        auto r = client->execute(test_unit_ready(), 0, false, false);
        EXPECT_TRUE(r.completed) << r.error;
        EXPECT_EQ(r.status, 0);
    }

private:
    std::unique_ptr<Server> server_;
    std::uint16_t port_ = 0;
};

}  // namespace iscsikit::target::testing
