// Authentication and access control at login (RFC 7143 §12.1.3 CHAP, §11.13.5 statuses 0201 and
// 0202), discovery filtered by the allow list, and the brute-force throttle; driven as an
// initiator would, over the in-process seam.
#include <chrono>

#include "iscsi/chap.hpp"
#include "iscsi/params.hpp"
#include "target/login_throttle.hpp"
#include "target_fixture.hpp"

namespace iscsikit::target::testing {
namespace {

using iscsi::ChapAlgorithm;
using iscsi::LoginResponseView;
using Bytes = std::vector<std::uint8_t>;

constexpr std::uint16_t kAuthenticationFailure = 0x0201;
constexpr std::uint16_t kAuthorizationFailure = 0x0202;
const ChapSpec kAlice{"alice", "alice-secret-0123", ""};
const ChapSpec kTarget{"target", "target-secret-0123", ""};

class Auth : public TargetTest {
protected:
    // The security stage by hand: AuthMethod=CHAP, CHAP_A, then CHAP_N/CHAP_R (and, with
    // `mutual_challenge`, CHAP_I/CHAP_C). Returns the last response's status; `answers` keeps the
    // last response's keys.
    struct Outcome {
        std::uint16_t status = 0xffff;
        TextPairs answers;
        bool transit = false;
    };
    Outcome chap_login(RawClient& client, const ChapSpec& who, const std::string& offer = "7,6,5,8",
                       const Bytes& mutual_challenge = {}, bool reflect = false) {
        Outcome out;
        const TextPairs first{{"InitiatorName", client.initiator_name},
                              {"SessionType", "Normal"},
                              {"TargetName", kTargetIqn},
                              {"AuthMethod", "CHAP,None"}};
        if (!step(client, first, out) || out.status != 0) return out;
        if (find_value(out.answers, "AuthMethod") != "CHAP") {
            ADD_FAILURE() << "AuthMethod answered " << find_value(out.answers, "AuthMethod").value_or("<absent>");
            return out;
        }
        if (!step(client, {{"CHAP_A", offer}}, out) || out.status != 0) return out;
        const auto* algorithm = iscsi::find_chap_algorithm(find_value(out.answers, "CHAP_A").value_or(""));
        auto id = iscsi::parse_numeric_value(find_value(out.answers, "CHAP_I").value_or(""));
        auto c = iscsi::decode_binary_value(find_value(out.answers, "CHAP_C").value_or(""));
        if (!algorithm || !id || !c) {
            ADD_FAILURE() << "no usable challenge";
            return out;
        }
        algorithm_ = algorithm->id;
        TextPairs response{{"CHAP_N", who.user},
                           {"CHAP_R", iscsi::encode_hex_value(iscsi::chap_response(
                                          algorithm->id, static_cast<std::uint8_t>(*id), who.secret, *c))}};
        if (reflect) {
            response.emplace_back("CHAP_I", std::to_string(*id));
            response.emplace_back("CHAP_C", iscsi::encode_hex_value(*c));
        } else if (!mutual_challenge.empty()) {
            response.emplace_back("CHAP_I", "9");
            response.emplace_back("CHAP_C", iscsi::encode_hex_value(mutual_challenge));
        }
        step(client, response, out, true);
        return out;
    }
    bool step(RawClient& client, const TextPairs& keys, Outcome& out, bool transit = false) {
        auto rsp = client.login_step(client.login_request(keys, LoginStage::security, LoginStage::operational, transit),
                                     12000ms);
        if (!rsp) {
            ADD_FAILURE() << "no login response: " << recv_error_name(rsp.error());
            return false;
        }
        auto result = client.finish_login(std::move(*rsp));
        out.status = result.status();
        out.answers = result.answers;
        out.transit = LoginResponseView{result.response.bhs}.transit();
        return true;
    }
    // After the security stage: the operational stage to full feature phase.
    std::uint16_t finish(RawClient& client) {
        TextPairs keys = libiscsi_keys(client.initiator_name);
        std::erase_if(keys, [](const iscsi::TextPair& p) {
            return p.first == "InitiatorName" || p.first == "TargetName" || p.first == "SessionType";
        });
        auto rsp =
            client.login_step(client.login_request(keys, LoginStage::operational, LoginStage::full_feature, true));
        if (!rsp) return 0xffff;
        return client.finish_login(std::move(*rsp)).status();
    }
    void start_with(const std::function<void(TargetAccess&)>& access) {
        start([&](DaemonConfig& c) { access(c.targets[0].access); });
    }

    ChapAlgorithm algorithm_ = ChapAlgorithm::md5;
};

TEST_F(Auth, RightSecretLogsInWithEveryAlgorithm) {
    for (const auto& info : iscsi::chap_algorithms()) {
        start_with([](TargetAccess& a) { a.chap = kAlice; });
        auto client = connect();
        auto out = chap_login(*client, kAlice, std::to_string(static_cast<unsigned>(info.id)));
        EXPECT_EQ(out.status, 0) << info.name;
        EXPECT_TRUE(out.transit) << "the target lets the initiator leave the security stage once authenticated";
        EXPECT_EQ(algorithm_, info.id);
        EXPECT_EQ(finish(*client), 0) << info.name;
        TearDown();
    }
}

TEST_F(Auth, WrongSecretIsAuthenticationFailure) {
    start_with([](TargetAccess& a) { a.chap = kAlice; });
    auto client = connect();
    auto out = chap_login(*client, {"alice", "wrong-secret-0123", ""});
    EXPECT_EQ(out.status, kAuthenticationFailure);
    EXPECT_TRUE(client->expect_closed(2000ms));
}

TEST_F(Auth, WrongUserIsAuthenticationFailure) {
    start_with([](TargetAccess& a) { a.chap = kAlice; });
    auto client = connect();
    EXPECT_EQ(chap_login(*client, {"bob", kAlice.secret, ""}).status, kAuthenticationFailure);
}

TEST_F(Auth, NoCredentialsIsAuthenticationFailure) {
    start_with([](TargetAccess& a) { a.chap = kAlice; });
    auto client = connect();
    auto rsp = client->login(libiscsi_keys(client->initiator_name));  // straight to the operational stage
    ASSERT_TRUE(rsp);
    EXPECT_EQ(rsp->status(), kAuthenticationFailure);
    auto second = connect();
    Outcome out;
    step(*second,
         {{"InitiatorName", second->initiator_name},
          {"SessionType", "Normal"},
          {"TargetName", kTargetIqn},
          {"AuthMethod", "None"}},
         out, true);
    EXPECT_EQ(out.status, kAuthenticationFailure) << "AuthMethod=None when CHAP is required";
}

TEST_F(Auth, TransitBeforeTheResponseStaysInTheSecurityStage) {
    start_with([](TargetAccess& a) { a.chap = kAlice; });
    auto client = connect();
    Outcome out;
    step(*client,
         {{"InitiatorName", client->initiator_name},
          {"SessionType", "Normal"},
          {"TargetName", kTargetIqn},
          {"AuthMethod", "CHAP"}},
         out, true);
    EXPECT_EQ(out.status, 0);
    EXPECT_FALSE(out.transit) << "no transit before CHAP completed";
    EXPECT_EQ(finish(*client), kAuthenticationFailure) << "the operational stage before authentication";
}

TEST_F(Auth, ReflectedChallengeIsRefused) {
    start_with([](TargetAccess& a) {
        a.chap = kAlice;
        a.mutual_chap = kTarget;
    });
    auto client = connect();
    auto out = chap_login(*client, kAlice, "5", {}, true);
    EXPECT_EQ(out.status, kAuthenticationFailure);
    EXPECT_FALSE(find_value(out.answers, "CHAP_R")) << "the target never answers its own challenge";
}

TEST_F(Auth, MutualChapTargetProvesItKnowsItsSecret) {
    start_with([](TargetAccess& a) {
        a.chap = kAlice;
        a.mutual_chap = kTarget;
    });
    auto client = connect();
    const Bytes challenge = iscsi::chap_random_bytes(32);
    auto out = chap_login(*client, kAlice, "7", challenge);
    ASSERT_EQ(out.status, 0);
    EXPECT_EQ(find_value(out.answers, "CHAP_N"), "target");
    EXPECT_EQ(find_value(out.answers, "CHAP_R"),
              iscsi::encode_hex_value(iscsi::chap_response(ChapAlgorithm::sha256, 9, kTarget.secret, challenge)));
    EXPECT_EQ(finish(*client), 0);
}

TEST_F(Auth, MutualWithoutATargetSecretFails) {
    start_with([](TargetAccess& a) { a.chap = kAlice; });
    auto client = connect();
    EXPECT_EQ(chap_login(*client, kAlice, "7", iscsi::chap_random_bytes(16)).status, kAuthenticationFailure);
}

TEST_F(Auth, InitiatorsOwnCredentialsWinOverTheTargets) {
    start_with([](TargetAccess& a) {
        a.chap = kAlice;
        a.initiators.push_back(
            {"iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test", {"own", "own-secret-0123456", ""}, {}, {}});
    });
    auto client = connect();
    ASSERT_EQ(client->initiator_name, "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test");
    EXPECT_EQ(chap_login(*client, kAlice).status, kAuthenticationFailure) << "the target's secret no longer works";
    auto second = connect();
    EXPECT_EQ(chap_login(*second, {"own", "own-secret-0123456", ""}).status, 0);
}

TEST_F(Auth, InitiatorNotInTheAllowListIsAuthorizationFailure) {
    start_with([](TargetAccess& a) { a.allow = {"iqn.2026-11.org.iscsikit:someone-else"}; });
    auto client = connect();
    auto rsp = client->login(libiscsi_keys(client->initiator_name));
    ASSERT_TRUE(rsp);
    EXPECT_EQ(rsp->status(), kAuthorizationFailure);
}

TEST_F(Auth, AllowListedInitiatorLogsInWithoutChap) {
    start_with([](TargetAccess& a) { a.allow = {"iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test"}; });
    EXPECT_NE(logged_in(), nullptr);
}

TEST_F(Auth, DiscoveryShowsOnlyTheTargetsTheInitiatorMayLogInTo) {
    start([](DaemonConfig& c) {
        TargetSpec hidden = c.targets[0];
        hidden.iqn = "iqn.2026-11.org.iscsikit:hidden";
        hidden.access.allow = {"iqn.2026-11.org.iscsikit:someone-else"};
        c.targets.push_back(hidden);
    });
    auto client = connect();
    auto login = client->login({{"InitiatorName", client->initiator_name},
                                {"SessionType", "Discovery"},
                                {"HeaderDigest", "None"},
                                {"DataDigest", "None"}});
    ASSERT_TRUE(login);
    ASSERT_EQ(login->status(), 0);
    const std::uint32_t itt = client->take_itt();
    ASSERT_TRUE(client->send(client->text_request(itt, to_bytes(std::string_view("SendTargets=All\0", 16)))));
    auto rsp = client->recv();
    ASSERT_TRUE(rsp);
    auto pairs = iscsi::parse_text(ConstByteSpan(rsp->data.data(), rsp->data.size()));
    ASSERT_TRUE(pairs);
    std::vector<std::string> names;
    for (const auto& [key, value] : *pairs)
        if (key == "TargetName") names.push_back(value);
    EXPECT_EQ(names, std::vector<std::string>{kTargetIqn});
}

TEST_F(Auth, DiscoveryChapIsRequiredWhenConfigured) {
    start([](DaemonConfig& c) { c.discovery_chap = kAlice; });
    auto client = connect();
    auto login = client->login({{"InitiatorName", client->initiator_name}, {"SessionType", "Discovery"}});
    ASSERT_TRUE(login);
    EXPECT_EQ(login->status(), kAuthenticationFailure);
}

TEST_F(Auth, FailedLoginsFromOneAddressWaitLongerEachTime) {
    start_with([](TargetAccess& a) { a.chap = kAlice; });
    std::vector<std::chrono::milliseconds> waits;
    for (int i = 0; i < 4; ++i) {
        auto client = connect();
        const auto begin = std::chrono::steady_clock::now();
        EXPECT_EQ(chap_login(*client, {"alice", "guess-number-" + std::to_string(i), ""}).status,
                  kAuthenticationFailure);
        waits.push_back(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - begin));
    }
    // 100, 200, 400, 800 ms: each at least its delay, and the last well above the first.
    EXPECT_GE(waits[0].count(), 100);
    EXPECT_GE(waits[3].count(), 800);
    EXPECT_GT(waits[3], waits[0] * 4);
    auto client = connect();
    EXPECT_EQ(chap_login(*client, kAlice).status, 0) << "the right secret still works";
}

// LUN masking and mapping: the libiscsi-named initiator sees target LUN 1 as its LUN 0, read-only,
// and target LUN 0 as its LUN 5; everyone else sees LUNs 0 and 1 as the target numbers them.
class LunMap : public Auth {
protected:
    void SetUp() override {
        Auth::SetUp();
        start_with([](TargetAccess& a) {
            InitiatorSpec entry;
            entry.name = "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test";
            entry.luns = {{0, 1, true}, {5, 0, false}};
            a.initiators.push_back(entry);
            a.allow = {"*"};
        });
    }
};

TEST_F(LunMap, ReportLunsShowsTheInitiatorsOwnNumbers) {
    auto mine = logged_in({}, false);
    ASSERT_NE(mine, nullptr);
    EXPECT_EQ(report_luns(*mine), (std::vector<std::uint64_t>{0, 5}));
    auto other = connect();
    other->initiator_name = "iqn.2026-11.org.example:other";
    auto login = other->login(libiscsi_keys(other->initiator_name));
    ASSERT_TRUE(login);
    ASSERT_EQ(login->status(), 0);
    EXPECT_EQ(report_luns(*other), (std::vector<std::uint64_t>{0, 1}));
}

TEST_F(LunMap, ReadOnlyMappingRefusesWritesWithWriteProtected) {
    auto mine = logged_in({}, false);
    ASSERT_NE(mine, nullptr);
    for (int i = 0; i < 2; ++i) mine->execute(test_unit_ready(), 0, false, false, {}, 0);  // the power-on UA
    const std::vector<std::byte> block(kBlock, std::byte{0x5a});
    auto r = mine->execute(write10(0, 1), kBlock, false, true, block, 0);
    ASSERT_TRUE(r.completed) << r.error;
    EXPECT_EQ(r.status, 0x02);
    EXPECT_EQ(r.sense_key(), 0x07) << "DATA PROTECT";
    EXPECT_EQ(r.asc(), 0x27);
    EXPECT_EQ(r.ascq(), 0x00);
    Cdb sense{};
    sense[0] = 0x1a;  // MODE SENSE(6), all pages
    sense[2] = 0x3f;
    sense[4] = 255;
    auto m = mine->execute(sense, 255, true, false, {}, 0);
    ASSERT_GE(m.data.size(), 4u);
    EXPECT_EQ(std::to_integer<int>(m.data[2]) & 0x80, 0x80) << "WP set in the device-specific parameter";
    for (int i = 0; i < 2; ++i) mine->execute(test_unit_ready(), 0, false, false, {}, 5);
    auto w = mine->execute(write10(0, 1), kBlock, false, true, block, 5);
    EXPECT_EQ(w.status, 0) << "LUN 5 (target LUN 0) is writable";
}

TEST(LoginThrottle, DelayDoublesPerFailureUpToTheCap) {
    LoginThrottle throttle;
    const auto now = LoginThrottle::Clock::now();
    EXPECT_EQ(throttle.failed("10.0.0.1", now), 100ms);
    EXPECT_EQ(throttle.failed("10.0.0.1", now), 200ms);
    EXPECT_EQ(throttle.failed("10.0.0.1", now), 400ms);
    EXPECT_EQ(throttle.failed("10.0.0.2", now), 100ms) << "per source address";
    for (int i = 0; i < 20; ++i) throttle.failed("10.0.0.1", now);
    EXPECT_EQ(throttle.failed("10.0.0.1", now), LoginThrottle::kMaxDelay);
    throttle.succeeded("10.0.0.1");
    EXPECT_EQ(throttle.failed("10.0.0.1", now), 100ms) << "a success clears the record";
    EXPECT_EQ(throttle.failed("10.0.0.2", now + LoginThrottle::kForgetAfter + 1s), 100ms)
        << "forgotten after a quiet while";
}

TEST(LoginThrottle, MemoryIsBounded) {
    LoginThrottle throttle;
    const auto now = LoginThrottle::Clock::now();
    for (std::size_t i = 0; i < LoginThrottle::kMaxSources + 100; ++i)
        throttle.failed("10.1." + std::to_string(i), now + std::chrono::milliseconds(i));
    EXPECT_LE(throttle.tracked(), LoginThrottle::kMaxSources);
}

}  // namespace
}  // namespace iscsikit::target::testing
