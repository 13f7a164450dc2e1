// The management API's methods and its JSON-RPC 2.0 envelope (docs/management.md), on a Server
// built in-process: what a request changes, and that a refused one changes nothing.
#include "control/admin.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

namespace iscsikit::control {
namespace {

constexpr const char* kIqn = "iqn.2026-11.org.iscsikit:admin";

class Admin : public ::testing::Test {
protected:
    void SetUp() override {
        spdlog::set_level(spdlog::level::off);
        target::DaemonConfig config;
        config.reactors = 1;
        target::TargetSpec t;
        t.iqn = kIqn;
        t.portals.push_back({"127.0.0.1", 0});
        target::LunSpec lun;
        lun.size = 1 << 20;
        t.luns.push_back(lun);
        config.targets.push_back(t);
        server_ = std::make_unique<target::Server>(config);
        context_ = std::make_unique<AdminContext>(AdminContext{*server_, "", nullptr});
    }
    Json call(const std::string& method, Json params) {
        return handle_request(*context_, Json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}, {"id", 3}});
    }
    std::unique_ptr<target::Server> server_;
    std::unique_ptr<AdminContext> context_;
};

TEST_F(Admin, EnvelopeErrorsUseTheJsonRpcCodes) {
    EXPECT_EQ(Json::parse(handle_line(*context_, "{oops"))["error"]["code"], kParseError);
    EXPECT_EQ(handle_request(*context_, Json{{"method", "ls"}, {"id", 1}})["error"]["code"], kInvalidRequest);
    auto unknown = call("format", Json::object());
    EXPECT_EQ(unknown["error"]["code"], kMethodNotFound);
    EXPECT_EQ(unknown["id"], 3);
    EXPECT_EQ(handle_request(*context_,
                             Json{{"jsonrpc", "2.0"}, {"method", "ls"}, {"params", 5}, {"id", 1}})["error"]["code"],
              kInvalidParams);
    EXPECT_TRUE(handle_request(*context_, Json{{"jsonrpc", "2.0"}, {"method", "ls"}}).is_null())
        << "a notification gets no answer";
}

TEST_F(Admin, AclAddAndRmChangeTheLiveRules) {
    auto added = call("acl.add", {{"target", kIqn}, {"initiator", "iqn.2026-11.org.example:a"}});
    ASSERT_TRUE(added.contains("result")) << added.dump();
    const auto node_ptr = server_->targets().front();
    const auto& node = *node_ptr;
    EXPECT_TRUE(server_->access_of(node)->allows("iqn.2026-11.org.example:a"));
    EXPECT_FALSE(server_->access_of(node)->allows("iqn.2026-11.org.example:b"));
    ASSERT_TRUE(call("acl.rm", {{"target", kIqn}, {"initiator", "iqn.2026-11.org.example:a"}}).contains("result"));
    EXPECT_TRUE(server_->access_of(node)->allows("iqn.2026-11.org.example:b")) << "an empty list on loopback is open";
}

TEST_F(Admin, AclMapBuildsAnInitiatorsLunMapAndAclRmShutsItOut) {
    constexpr const char* kHost = "iqn.2026-11.org.example:host";
    auto refusal = [&](const char* method, Json params) {
        auto answer = call(method, std::move(params));
        EXPECT_EQ(answer["error"]["code"], kRefused) << answer.dump();
        return answer["error"].value("message", std::string());
    };
    auto map_of = [&] {
        const auto config = server_->running_config();
        const auto& entries = config.targets.front().access.initiators;
        return entries.empty() ? std::vector<target::LunMapping>{} : entries.front().luns;
    };
    auto mapped =
        call("acl.map", {{"target", kIqn}, {"initiator", kHost}, {"lun", 5}, {"target_lun", 0}, {"readonly", true}});
    ASSERT_TRUE(mapped.contains("result")) << mapped.dump();
    EXPECT_EQ(mapped["result"]["targets"][0]["initiators"][0]["luns"][0]["lun"], 5);
    EXPECT_EQ(map_of(), (std::vector<target::LunMapping>{{5, 0, true}}));
    const auto node = server_->targets().front();
    EXPECT_TRUE(server_->access_of(*node)->allows(kHost)) << "an entry lets the initiator in";
    EXPECT_FALSE(server_->access_of(*node)->allows("iqn.2026-11.org.example:other"));

    EXPECT_NE(refusal("acl.map", {{"target", kIqn}, {"initiator", kHost}, {"lun", 5}}).find("already mapped"),
              std::string::npos);
    EXPECT_NE(refusal("acl.map", {{"target", kIqn}, {"initiator", kHost}, {"lun", 6}, {"target_lun", 9}})
                  .find("target LUN 9, which does not exist"),
              std::string::npos);
    EXPECT_NE(refusal("acl.unmap", {{"target", kIqn}, {"initiator", kHost}, {"lun", 5}}).find("the last of"),
              std::string::npos)
        << "without a map it would see every LUN";
    EXPECT_NE(refusal("acl.unmap", {{"target", kIqn}, {"initiator", kHost}, {"lun", 7}}).find("no LUN 7"),
              std::string::npos);
    EXPECT_EQ(
        call("acl.map", {{"target", kIqn}, {"initiator", kHost}, {"lun", 6}, {"readonly", "yes"}})["error"]["code"],
        kInvalidParams);
    EXPECT_EQ(map_of(), (std::vector<target::LunMapping>{{5, 0, true}})) << "a refused request changed the map";

    ASSERT_TRUE(call("acl.map", {{"target", kIqn}, {"initiator", kHost}, {"lun", 0}}).contains("result"));
    ASSERT_TRUE(call("acl.unmap", {{"target", kIqn}, {"initiator", kHost}, {"lun", 5}}).contains("result"));
    EXPECT_EQ(map_of(), (std::vector<target::LunMapping>{{0, 0, false}}));

    ASSERT_TRUE(call("acl.add", {{"target", kIqn}, {"initiator", kHost}}).contains("result"));
    ASSERT_TRUE(call("acl.rm", {{"target", kIqn}, {"initiator", kHost}}).contains("result"));
    EXPECT_TRUE(server_->running_config().targets.front().access.initiators.empty())
        << "acl.rm leaves an entry behind, which would still let the initiator in";
    EXPECT_NE(refusal("acl.rm", {{"target", kIqn}, {"initiator", kHost}}).find("neither in the allow list"),
              std::string::npos);
}

TEST_F(Admin, RefusedRequestsSayWhyAndChangeNothing) {
    const auto before = target::to_toml(server_->running_config());
    auto bad_name = call("acl.add", {{"target", kIqn}, {"initiator", "not a name"}});
    EXPECT_EQ(bad_name["error"]["code"], kRefused);
    EXPECT_NE(bad_name["error"]["message"].get<std::string>().find("allow 'not a name'"), std::string::npos);
    auto short_secret = call("chap.set", {{"target", kIqn}, {"user", "u"}, {"secret", "short"}});
    EXPECT_NE(short_secret["error"]["message"].get<std::string>().find("shorter than 12"), std::string::npos);
    auto same_both =
        call("chap.set", {{"target", kIqn}, {"user", "t"}, {"secret", "same-secret-0123"}, {"mutual", true}});
    EXPECT_NE(same_both["error"]["message"].get<std::string>().find("mutual_chap needs chap"), std::string::npos);
    EXPECT_EQ(call("acl.add", {{"target", kIqn}})["error"]["code"], kInvalidParams);
    EXPECT_EQ(call("acl.add", {{"target", "iqn.2026-11.org.example:none"},
                               {"initiator", "iqn.2026-11.org.example:a"}})["error"]["code"],
              kRefused);
    EXPECT_EQ(call("session.close", {{"tsih", 70000}})["error"]["code"], kInvalidParams);
    EXPECT_EQ(call("chap.set", {{"target", kIqn}, {"mutual", "yes"}})["error"]["code"], kInvalidParams)
        << "a wrongly typed parameter is answered, not dropped";
    EXPECT_EQ(call("save", Json::object())["error"]["code"], kInvalidParams) << "no --config, no path";
    EXPECT_EQ(target::to_toml(server_->running_config()), before);
}

TEST_F(Admin, TargetAndLunMethodsCheckTheirParams) {
    const auto before = target::to_toml(server_->running_config());
    EXPECT_EQ(call("target.add", {{"iqn", "iqn.2026-12.org.example:t"}})["error"]["code"], kInvalidParams)
        << "no portal";
    EXPECT_EQ(call("target.add", {{"iqn", "iqn.2026-12.org.example:t"}, {"portals", {"nowhere:x"}}})["error"]["code"],
              kInvalidParams);
    EXPECT_EQ(
        call("target.add", {{"iqn", "iqn.2026-12.org.example:t"}, {"portals", "127.0.0.1:3260"}})["error"]["code"],
        kInvalidParams)
        << "portals is a list";
    EXPECT_EQ(call("lun.add", {{"target", kIqn}, {"spec", "tape:1G"}})["error"]["code"], kInvalidParams);
    EXPECT_EQ(call("lun.add", {{"target", kIqn}, {"spec", "ram:1M"}, {"lun", 20000}})["error"]["code"], kInvalidParams);
    EXPECT_EQ(call("lun.resize", {{"target", kIqn}, {"lun", 0}, {"size", "big"}})["error"]["code"], kInvalidParams);
    EXPECT_EQ(call("lun.resize", {{"target", kIqn}, {"lun", 0}})["error"]["code"], kInvalidParams);
    EXPECT_EQ(call("lun.rm", {{"target", kIqn}, {"lun", -1}})["error"]["code"], kInvalidParams);
    auto gone = call("lun.rm", {{"target", kIqn}, {"lun", 9}});
    EXPECT_EQ(gone["error"]["code"], kRefused);
    EXPECT_NE(gone["error"]["message"].get<std::string>().find("has no LUN 9"), std::string::npos);
    EXPECT_EQ(call("target.rm", {{"iqn", "iqn.2026-12.org.example:none"}})["error"]["code"], kRefused);
    EXPECT_EQ(target::to_toml(server_->running_config()), before);

    auto stats = call("stats", Json::object());
    ASSERT_TRUE(stats.contains("result")) << stats.dump();
    EXPECT_EQ(stats["result"]["targets"][0]["luns"][0]["size"], 1 << 20);
}

TEST_F(Admin, LunAluaSetsTheLunsAccessState) {
    auto set = call("lun.alua", {{"target", kIqn}, {"lun", 0}, {"state", "standby"}});
    ASSERT_TRUE(set.contains("result")) << set.dump();
    EXPECT_EQ(set["result"]["state"], "standby");
    const auto unit = server_->targets().front()->luns()->device->unit(0);
    EXPECT_EQ(unit->access_state(), scsi::AccessState::standby);

    EXPECT_EQ(call("lun.alua", {{"target", kIqn}, {"lun", 0}, {"state", "offline"}})["error"]["code"], kInvalidParams);
    EXPECT_EQ(call("lun.alua", {{"target", kIqn}, {"lun", 0}})["error"]["code"], kInvalidParams);
    auto gone = call("lun.alua", {{"target", kIqn}, {"lun", 9}, {"state", "unavailable"}});
    EXPECT_EQ(gone["error"]["code"], kRefused);
    EXPECT_NE(gone["error"]["message"].get<std::string>().find("has no LUN 9"), std::string::npos);
    EXPECT_EQ(unit->access_state(), scsi::AccessState::standby) << "a refused request changed the state";
}

TEST_F(Admin, LsNeverShowsASecret) {
    ASSERT_TRUE(
        call("chap.set", {{"target", kIqn}, {"user", "alice"}, {"secret", "alice-secret-0123"}}).contains("result"));
    const auto text = call("ls", Json::object()).dump();
    EXPECT_NE(text.find("alice"), std::string::npos);
    EXPECT_EQ(text.find("alice-secret-0123"), std::string::npos);
}

}  // namespace
}  // namespace iscsikit::control
