#include "target/config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace iscsikit::target {
namespace {

// ---- sizes ----

TEST(ParseSize, PlainBytesAndPowerOf1024Suffixes) {
    EXPECT_EQ(parse_size("0").value(), 0u);
    EXPECT_EQ(parse_size("512").value(), 512u);
    EXPECT_EQ(parse_size("4K").value(), 4096u);
    EXPECT_EQ(parse_size("4k").value(), 4096u);
    EXPECT_EQ(parse_size("16M").value(), 16u << 20);
    EXPECT_EQ(parse_size("1G").value(), 1u << 30);
    EXPECT_EQ(parse_size("2T").value(), std::uint64_t{2} << 40);
    EXPECT_EQ(parse_size("16777215T").value(), std::uint64_t{16777215} << 40);
}

// The iscsikit tool's forms, one syntax since both use core/size.hpp.
TEST(ParseSize, AcceptsTheToolsSuffixesToo) {
    EXPECT_EQ(parse_size("1GB").value(), 1u << 30);
    EXPECT_EQ(parse_size("64KiB").value(), 64u << 10);
    EXPECT_EQ(parse_size("512b").value(), 512u);
    EXPECT_EQ(parse_size("1P").value(), std::uint64_t{1} << 50);
}

TEST(ParseSize, RejectsWhatIsNotANumberWithOneSuffix) {
    for (const char* bad :
         {"", "G", "1.5G", "-1", "1X", "1GBB", " 1G", "1G ", "0x10", "16777216T", "18446744073709551616"}) {
        auto r = parse_size(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos) << r.error().message;
        }
    }
}

// ---- portals ----

TEST(ParsePortal, Ipv4HostNamesAndDefaultPort) {
    auto p = parse_portal("127.0.0.1:3260").value();
    EXPECT_EQ(p.host, "127.0.0.1");
    EXPECT_EQ(p.port, 3260);
    p = parse_portal("10.1.2.3").value();
    EXPECT_EQ(p.host, "10.1.2.3");
    EXPECT_EQ(p.port, 3260);
    p = parse_portal("storage-1.example.com:860").value();
    EXPECT_EQ(p.host, "storage-1.example.com");
    EXPECT_EQ(p.port, 860);
    EXPECT_EQ(p.to_string(), "storage-1.example.com:860");
    EXPECT_EQ(parse_portal("0.0.0.0:65535").value().port, 65535);
}

TEST(ParsePortal, Ipv6InBracketsWithOrWithoutPort) {
    auto p = parse_portal("[::1]:3261").value();
    EXPECT_EQ(p.host, "::1");
    EXPECT_EQ(p.port, 3261);
    EXPECT_EQ(p.to_string(), "[::1]:3261");
    p = parse_portal("[2001:db8::10]").value();
    EXPECT_EQ(p.host, "2001:db8::10");
    EXPECT_EQ(p.port, 3260);
    p = parse_portal("[fe80::1%eth0]:3260").value();
    EXPECT_EQ(p.host, "fe80::1%eth0");
    // Without brackets an IPv6 address takes the default port.
    p = parse_portal("fe80::2").value();
    EXPECT_EQ(p.host, "fe80::2");
    EXPECT_EQ(p.port, 3260);
    EXPECT_EQ(p.to_string(), "[fe80::2]:3260");
}

TEST(ParsePortal, RejectsMalformedAddressesAndPorts) {
    for (const char* bad :
         {"", ":3260", "[::1", "[::1]x", "[::1]:", "[127.0.0.1]:3260", "[]:3260", "1.2.3.4:0", "1.2.3.4:65536",
          "1.2.3.4:abc", "1.2.3.4:", "300.1.1.1", "[::g]:1", "bad host", "-lead.example.com", "a..b"}) {
        auto r = parse_portal(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_EQ(r.error().message.rfind(std::string("portal '") + bad + "'", 0), 0u) << r.error().message;
        }
    }
}

// ---- the metrics address ----

TEST(ParseMetricsAddress, TakesHostAndPort) {
    EXPECT_EQ(parse_metrics_address("127.0.0.1:9460").value(), (PortalAddress{"127.0.0.1", 9460}));
    EXPECT_EQ(parse_metrics_address("[::1]:9460").value(), (PortalAddress{"::1", 9460}));
}

// Without a port, parse_portal's default would bind iSCSI's 3260 (the target's own portal).
TEST(ParseMetricsAddress, RefusesAnAddressWithoutAPort) {
    for (const auto& [text, message] : std::initializer_list<std::pair<const char*, const char*>>{
             {"127.0.0.1", "metrics address '127.0.0.1' needs a port, e.g. 127.0.0.1:9460"},
             {"localhost", "metrics address 'localhost' needs a port, e.g. localhost:9460"},
             {"[::1]", "metrics address '[::1]' needs a port, e.g. [::1]:9460"},
             {"::1", "metrics address '::1' needs a port, e.g. [::1]:9460"},
             {"1.2.3.4:0", "metrics address '1.2.3.4:0': port '0' is not a number from 1 to 65535"}}) {
        auto r = parse_metrics_address(text);
        ASSERT_FALSE(r) << text;
        EXPECT_EQ(r.error().message, message);
    }
}

// ---- LUN specs ----

TEST(ParseLunSpec, RamWithSizeAndDefaults) {
    auto lun = parse_lun_spec("ram:1G").value();
    EXPECT_EQ(lun.kind, LunSpec::Kind::ram);
    EXPECT_EQ(lun.size, 1u << 30);
    EXPECT_EQ(lun.block_size, 512u);
    EXPECT_FALSE(lun.read_only);
    EXPECT_FALSE(lun.thin);
    EXPECT_FALSE(lun.removable);
}

TEST(ParseLunSpec, FileWithEveryOption) {
    auto lun =
        parse_lun_spec("file:/srv/lun0.img,readonly=true,block_size=4096,size=10G,thin=true,removable=false").value();
    EXPECT_EQ(lun.kind, LunSpec::Kind::file);
    EXPECT_EQ(lun.path, "/srv/lun0.img");
    EXPECT_EQ(lun.size, std::uint64_t{10} << 30);
    EXPECT_EQ(lun.block_size, 4096u);
    EXPECT_TRUE(lun.read_only);
    EXPECT_TRUE(lun.thin);
    EXPECT_FALSE(lun.removable);
}

TEST(ParseLunSpec, CacheIsKernelUnlessAnotherIsAsked) {
    EXPECT_EQ(parse_lun_spec("file:/srv/a.img").value().cache, LunSpec::Cache::kernel);
    EXPECT_EQ(parse_lun_spec("file:/srv/a.img").value().cache_bytes(), 0u);
    EXPECT_EQ(parse_lun_spec("file:/srv/a.img,cache=none").value().cache, LunSpec::Cache::none);
    EXPECT_EQ(parse_lun_spec("blockdev:/dev/sdb,cache=kernel").value().cache, LunSpec::Cache::kernel);
    auto wt = parse_lun_spec("file:/srv/a.img,cache=writethrough").value();
    EXPECT_EQ(wt.cache, LunSpec::Cache::writethrough);
    EXPECT_EQ(wt.cache_bytes(), LunSpec::kDefaultCacheSize);
    auto wb = parse_lun_spec("blockdev:/dev/sdb,cache=writeback,cache_size=64M").value();
    EXPECT_EQ(wb.cache, LunSpec::Cache::writeback);
    EXPECT_EQ(wb.cache_bytes(), std::uint64_t{64} << 20);
}

TEST(ParseLunSpec, BlockdevAndBareBooleanOption) {
    auto lun = parse_lun_spec("blockdev:/dev/sdb,readonly").value();
    EXPECT_EQ(lun.kind, LunSpec::Kind::blockdev);
    EXPECT_EQ(lun.path, "/dev/sdb");
    EXPECT_EQ(lun.size, 0u);
    EXPECT_TRUE(lun.read_only);
}

TEST(ParseLunSpec, ErrorsNameTheSpecAndWhatIsWrong) {
    struct Case {
        const char* spec;
        const char* expected;
    };
    for (auto [spec, expected] : std::initializer_list<Case>{
             {"disk:/x", "unknown backing 'disk' (ram, file or blockdev)"},
             {"ram", "expected KIND:ARGUMENT"},
             {"ram:", "a ram LUN needs a size"},
             {"ram:0", "a ram LUN needs a size"},
             {"ram:1000", "size 1000 is not a multiple of the block size 512"},
             {"ram:1M,block_size=4096,size=2M", "a ram LUN takes its size after the colon"},
             {"ram:lots", "size 'lots': expected a number of bytes"},
             {"file:", "missing path"},
             {"file:/x,colour=red",
              "unknown option 'colour' (readonly, block_size, thin, removable, size, cache, cache_size, "
              "sanitize_rate)"},
             {"file:/x,cache=writearound", "cache 'writearound': expected kernel, none, writethrough or writeback"},
             {"file:/x,cache_size=64M", "cache_size is for cache=writethrough or cache=writeback"},
             {"file:/x,cache=writeback,cache_size=4K", "cache_size 4096: at least 1M"},
             {"file:/x,cache=writeback,cache_size=lots", "size 'lots'"},
             {"ram:1M,cache=none", "cache is for file and blockdev LUNs"},
             {"file:/x,readonly=yes", "option 'readonly': expected true or false, not 'yes'"},
             {"file:/x,block_size=1024", "block_size '1024': expected 512 or 4096"},
             {"file:/x,thin=true,thin=false", "option 'thin' given twice"},
             {"file:/x,size=5000", "size 5000 is not a multiple of the block size 512"},
             {"blockdev:/dev/sdb,size=1G", "size is not used for a blockdev LUN"},
         }) {
        auto r = parse_lun_spec(spec);
        ASSERT_FALSE(r) << spec;
        EXPECT_EQ(r.error().message.rfind(std::string("LUN '") + spec + "': ", 0), 0u) << r.error().message;
        EXPECT_NE(r.error().message.find(expected), std::string::npos) << r.error().message;
    }
}

TEST(ParseLunSpec, ToStringParsesBackToTheSameSpec) {
    for (const char* spec :
         {"ram:1G", "ram:1536K,block_size=4096,thin=true", "file:/srv/a.img",
          "file:/srv/b.img,size=10G,readonly=true,removable=true", "blockdev:/dev/sdc,block_size=4096", "ram:999936",
          "file:/srv/c.img,cache=none", "blockdev:/dev/sdd,cache=none", "file:/srv/d.img,cache=writethrough",
          "file:/srv/e.img,cache=writeback,cache_size=64M", "file:/srv/f.img,thin=true,sanitize_rate=16M"}) {
        auto lun = parse_lun_spec(spec).value();
        EXPECT_EQ(lun.to_string(), spec);
        auto again = parse_lun_spec(lun.to_string()).value();
        EXPECT_EQ(again.to_string(), spec);
    }
}

// ---- defaults and validate() ----

TEST(DefaultConfig, OneTargetWithA1GiBRamLunOnLoopback) {
    auto config = default_config();
    ASSERT_TRUE(validate(config)) << validate(config).error().message;
    ASSERT_EQ(config.targets.size(), 1u);
    const auto& t = config.targets[0];
    EXPECT_EQ(t.iqn, kDefaultTargetIqn);
    ASSERT_EQ(t.portals.size(), 1u);
    EXPECT_EQ(t.portals[0].to_string(), "127.0.0.1:3260");
    ASSERT_EQ(t.luns.size(), 1u);
    EXPECT_EQ(t.luns[0].to_string(), "ram:1G");
    EXPECT_EQ(config.reactors, 0u);
    EXPECT_EQ(config.log_level, "info");
}

TEST(Validate, CatchesEachKindOfInconsistency) {
    auto expect_error = [](const DaemonConfig& c, const std::string& expected) {
        auto r = validate(c);
        ASSERT_FALSE(r) << expected;
        EXPECT_NE(r.error().message.find(expected), std::string::npos) << r.error().message;
    };
    auto c = default_config();
    c.targets.push_back(c.targets[0]);
    expect_error(c, "the IQN is used by two targets");

    c = default_config();
    c.targets[0].portals.clear();
    expect_error(c, "target iqn.2026-11.org.iscsikit:default: no portal");

    c = default_config();
    c.targets[0].portals.push_back(c.targets[0].portals[0]);
    expect_error(c, "portal 127.0.0.1:3260 listed twice");

    c = default_config();
    c.targets[0].luns.clear();
    EXPECT_TRUE(validate(c)) << "a target with no LUN yet is valid (live management adds them)";

    c = default_config();
    c.targets[0].luns.push_back(c.targets[0].luns[0]);
    c.targets[0].luns[0].lun = 1;
    c.targets[0].luns[1].lun = 1;
    expect_error(c, "LUN 1: listed twice or out of order");

    c = default_config();
    c.targets[0].luns[0].size = 1000;
    expect_error(c, "LUN 0: size 1000 is not a multiple of the block size 512");

    c = default_config();
    c.targets[0].luns[0].block_size = 2048;
    expect_error(c, "block size 2048: expected 512 or 4096");

    c = default_config();
    c.targets[0].iqn = "iqn.bad";
    expect_error(c, "'iqn.bad' is not a valid iSCSI name");

    c = default_config();
    c.log_level = "loud";
    expect_error(c, "log_level 'loud'");

    c = default_config();
    c.login_timeout_seconds = 0;
    expect_error(c, "login_timeout 0: expected 1 to 86400");

    c = default_config();
    c.targets.push_back(c.targets[0]);
    c.targets[1].iqn = "iqn.2026-11.org.iscsikit:second";
    c.targets[0].luns[0] = *parse_lun_spec("file:/srv/one.img,size=16M");
    c.targets[1].luns[0] = *parse_lun_spec("file:/srv/one.img,size=16M");
    expect_error(c, "target iqn.2026-11.org.iscsikit:second: LUN 0: /srv/one.img already backs another LUN");

    c = default_config();
    c.targets.clear();
    EXPECT_TRUE(validate(c));  // targets may come later (command line, control socket)
}

// ---- the TOML file ----

class ConfigFileTest : public ::testing::Test {
protected:
    void SetUp() override { path_ = ::testing::TempDir() + "iscsikit_config_" + std::to_string(::getpid()) + ".toml"; }
    void TearDown() override { ::unlink(path_.c_str()); }

    Result<DaemonConfig> load(const std::string& text) {
        std::ofstream(path_) << text;
        return load_config_file(path_);
    }
    // Asserts that loading `text` fails with exactly "FILE:<rest>".
    void expect_error(const std::string& text, const std::string& rest) {
        auto r = load(text);
        ASSERT_FALSE(r) << text;
        EXPECT_EQ(r.error().message, path_ + ":" + rest) << text;
    }

    std::string path_;
};

constexpr const char* kGood = R"(# every key, as in docs/configuration.md
log_level = "debug"
reactors = 4
nop_interval = 10
nop_timeout = 20
login_timeout = 5
max_connections = 64
max_queued_commands = 32
max_outstanding_r2t = 4

[[target]]
iqn = "iqn.2026-11.org.iscsikit:disk1"
alias = "first disk"
portals = ["127.0.0.1:3260", "[::1]:3260"]

  [[target.lun]]
  backing = "ram"
  size = "64M"

  [[target.lun]]
  backing = "file"
  path = "/srv/iscsi/lun1.img"
  size = 1073741824
  block_size = 4096
  thin = true

[[target]]
iqn = "iqn.2026-11.org.iscsikit:disk2"
portals = ["0.0.0.0:3261"]
allow = ["*"]

  [[target.lun]]
  backing = "blockdev"
  path = "/dev/sdb"
  readonly = true
  removable = true
)";

TEST_F(ConfigFileTest, GoodFileLoadsEveryField) {
    auto r = load(kGood);
    ASSERT_TRUE(r) << r.error().message;
    const auto& c = *r;
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_EQ(c.reactors, 4u);
    EXPECT_EQ(c.nop_interval_seconds, 10u);
    EXPECT_EQ(c.nop_timeout_seconds, 20u);
    EXPECT_EQ(c.login_timeout_seconds, 5u);
    EXPECT_EQ(c.max_connections, 64u);
    EXPECT_EQ(c.max_queued_commands, 32u);
    EXPECT_EQ(c.max_outstanding_r2t, 4u);
    ASSERT_EQ(c.targets.size(), 2u);
    EXPECT_EQ(c.targets[0].iqn, "iqn.2026-11.org.iscsikit:disk1");
    EXPECT_EQ(c.targets[0].alias, "first disk");
    ASSERT_EQ(c.targets[0].portals.size(), 2u);
    EXPECT_EQ(c.targets[0].portals[0].to_string(), "127.0.0.1:3260");
    EXPECT_EQ(c.targets[0].portals[1].to_string(), "[::1]:3260");
    ASSERT_EQ(c.targets[0].luns.size(), 2u);
    EXPECT_EQ(c.targets[0].luns[0].to_string(), "ram:64M");
    EXPECT_EQ(c.targets[0].luns[1].to_string(), "file:/srv/iscsi/lun1.img,size=1G,block_size=4096,thin=true");
    ASSERT_EQ(c.targets[1].luns.size(), 1u);
    EXPECT_EQ(c.targets[1].luns[0].to_string(), "blockdev:/dev/sdb,readonly=true,removable=true");
    EXPECT_EQ(c.targets[1].portals[0].port, 3261);
}

TEST_F(ConfigFileTest, EmptyFileGivesTheDefaultsWithoutTargets) {
    auto r = load("");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->targets.empty());
    EXPECT_EQ(r->login_timeout_seconds, 15u);
}

TEST_F(ConfigFileTest, MissingFileSaysSo) {
    auto r = load_config_file("/nonexistent/iscsikit.toml");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "/nonexistent/iscsikit.toml: cannot read: No such file or directory");
}

TEST_F(ConfigFileTest, TomlSyntaxErrorGivesLineAndColumn) {
    auto r = load("reactors = 2\n[[target]]\niqn = iqn.2026-11.org.x\n");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.rfind(path_ + ":3:8: ", 0), 0u) << r.error().message;
}

// One target whose second LUN (a file LUN, table at line 7) ends with `lun_extra` from line 10 on.
std::string one_target(const std::string& lun_extra) {
    return "[[target]]\n"                            // line 1
           "iqn = \"iqn.2026-11.org.iscsikit:t\"\n"  // 2
           "portals = [\"127.0.0.1:3260\"]\n"        // 3
           "[[target.lun]]\n"                        // 4
           "backing = \"ram\"\n"                     // 5
           "size = \"1M\"\n"                         // 6
           "[[target.lun]]\n"                        // 7
           "backing = \"file\"\n"                    // 8
           "path = \"/tmp/x.img\"\n" +               // 9
           lun_extra;                                // 10...
}

TEST_F(ConfigFileTest, UnknownTopLevelKeySuggestsTheNearOne) {
    expect_error("log_level = \"info\"\nreactor = 2\n", "2: key 'reactor': unknown key (did you mean 'reactors'?)");
}

TEST_F(ConfigFileTest, SanitizeRateIsASize) {
    auto r = load(one_target("sanitize_rate = \"16M\"\n"));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->targets[0].luns[1].sanitize_rate, std::uint64_t{16} << 20);
    EXPECT_EQ(parse_lun_spec("ram:1G,sanitize_rate=1G").value().sanitize_rate, std::uint64_t{1} << 30);
    EXPECT_FALSE(parse_lun_spec("ram:1G,sanitize_rate=fast"));
}

TEST_F(ConfigFileTest, CacheKeyIsReadAndCheckedAtItsLine) {
    auto r = load(one_target("cache = \"none\"\n"));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->targets[0].luns[1].cache, LunSpec::Cache::none);
    expect_error(one_target("cache = \"fast\"\n"),
                 "10: key 'target[0].lun[1].cache': expected kernel, none, writethrough or writeback");
    r = load(one_target("cache = \"writeback\"\ncache_size = \"32M\"\n"));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->targets[0].luns[1].cache, LunSpec::Cache::writeback);
    EXPECT_EQ(r->targets[0].luns[1].cache_size, std::uint64_t{32} << 20);
    expect_error(one_target("cache_size = \"32M\"\n"),
                 "10: key 'target[0].lun[1].cache_size': cache_size is for cache=writethrough or cache=writeback");
}

TEST(Validate, BlockCachesTogetherTakeAtMostHalfOfMemory) {
    auto config = default_config();
    LunSpec lun;
    lun.kind = LunSpec::Kind::file;
    lun.path = "/srv/big.img";
    lun.cache = LunSpec::Cache::writeback;
    lun.cache_size = std::uint64_t{1} << 50;  // a petabyte: more than any test machine has
    config.targets[0].luns.push_back(lun);
    auto r = validate(config);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("more than half of this machine's memory"), std::string::npos)
        << r.error().message;
}

TEST_F(ConfigFileTest, UnknownLunKeyIsAnErrorAtItsLine) {
    expect_error(one_target("blocksize = 4096\n"),
                 "10: key 'target[0].lun[1].blocksize': unknown key (did you mean 'block_size'?)");
}

TEST_F(ConfigFileTest, WrongTypeForSizeNamesTheKey) {
    expect_error(one_target("size = true\n"),
                 "10: key 'target[0].lun[1].size': expected a size: bytes, or a string like \"1G\"");
    expect_error(one_target("size = \"1 G\"\n"),
                 "10: key 'target[0].lun[1].size': size '1 G': unknown suffix ' G' (k, m, g, t, p or e, then "
                 "optionally b or ib)");
    expect_error(one_target("size = -4096\n"),
                 "10: key 'target[0].lun[1].size': expected a size: bytes, or a string like \"1G\"");
}

TEST_F(ConfigFileTest, SizeNotAMultipleOfTheBlockSizeBlamesSize) {
    expect_error(one_target("block_size = 4096\nsize = \"6K\"\n"),
                 "11: key 'target[0].lun[1].size': size 6144 is not a multiple of the block size 4096");
}

TEST_F(ConfigFileTest, BadBlockSizeAndBadBacking) {
    expect_error(one_target("block_size = 1000\n"),
                 "10: key 'target[0].lun[1].block_size': block size 1000: expected 512 or 4096");
    auto text = one_target("");
    text.replace(text.find("\"file\""), 6, "\"disk\"");
    expect_error(text, "8: key 'target[0].lun[1].backing': expected ram, file or blockdev");
    expect_error(one_target("readonly = \"yes\"\n"), "10: key 'target[0].lun[1].readonly': expected true or false");
}

TEST_F(ConfigFileTest, MissingRequiredKeysBlameTheirTable) {
    auto text = one_target("");
    text.replace(text.find("path = "), text.find('\n', text.find("path = ")) - text.find("path = ") + 1, "");
    expect_error(text, "7: key 'target[0].lun[1].path': a file LUN needs a path");
    expect_error("[[target]]\nportals = [\"127.0.0.1\"]\n",
                 "1: key 'target[0].iqn': missing: every target needs an iSCSI name");
    auto empty = load("[[target]]\niqn = \"iqn.2026-11.org.x\"\nportals = [\"127.0.0.1\"]\n");
    ASSERT_TRUE(empty) << empty.error().message;
    EXPECT_TRUE(empty->targets.at(0).luns.empty()) << "a target may start with no LUN";
}

TEST_F(ConfigFileTest, LunNumbersFollowThePreviousUnlessGiven) {
    auto r = load(
        "[[target]]\niqn = \"iqn.2026-11.org.x\"\nportals = [\"127.0.0.1\"]\n"
        "[[target.lun]]\nbacking = \"ram\"\nsize = \"1M\"\n"
        "[[target.lun]]\nlun = 5\nbacking = \"ram\"\nsize = \"1M\"\n"
        "[[target.lun]]\nbacking = \"ram\"\nsize = \"1M\"\n");
    ASSERT_TRUE(r) << r.error().message;
    const auto& luns = r->targets.at(0).luns;
    ASSERT_EQ(luns.size(), 3u);
    EXPECT_EQ(luns[0].lun, 0u);
    EXPECT_EQ(luns[1].lun, 5u);
    EXPECT_EQ(luns[2].lun, 6u);
    // save writes the number only where it is not implied, and the gap survives the round trip
    const std::string text = to_toml(*r);
    EXPECT_NE(text.find("lun = 5"), std::string::npos) << text;
    EXPECT_EQ(text.find("lun = 6"), std::string::npos) << text;
    auto again = load(text);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->targets.at(0).luns.at(2).lun, 6u);

    expect_error(
        "[[target]]\niqn = \"iqn.2026-11.org.x\"\nportals = [\"127.0.0.1\"]\n"
        "[[target.lun]]\nlun = 3\nbacking = \"ram\"\nsize = \"1M\"\n"
        "[[target.lun]]\nlun = 2\nbacking = \"ram\"\nsize = \"1M\"\n",
        "9: key 'target[0].lun[1].lun': LUNs are listed in ascending order, each once");
}

TEST_F(ConfigFileTest, BadIqnAndBadPortalNameTheirKey) {
    expect_error("[[target]]\niqn = \"iqn.2026-11.org.X\"\n",
                 "2: key 'target[0].iqn': 'iqn.2026-11.org.X' is not a valid iSCSI name: iSCSI names are lowercase "
                 "(RFC 3722)");
    expect_error("[[target]]\niqn = \"iqn.2026-11.org.x\"\nportals = [\"127.0.0.1\",\n  \"[::1]:99999\"]\n",
                 "4: key 'target[0].portals[1]': portal '[::1]:99999': port '99999' is not a number from 1 to 65535");
    expect_error("[[target]]\niqn = \"iqn.2026-11.org.x\"\nportals = \"127.0.0.1\"\n",
                 "3: key 'target[0].portals': expected a non-empty list like [\"127.0.0.1:3260\"]");
}

TEST_F(ConfigFileTest, DuplicateIqnIsReportedAtTheSecondTarget) {
    auto text = one_target("") + one_target("");
    expect_error(text, "11: key 'target[1].iqn': target[0] has the same IQN");
}

TEST_F(ConfigFileTest, SingleTableInsteadOfArrayOfTables) {
    expect_error("[target]\niqn = \"iqn.2026-11.org.x\"\n",
                 "1: key 'target': expected an array of tables: write [[target]]");
}

TEST_F(ConfigFileTest, ServiceKnobsAreRangeChecked) {
    expect_error("reactors = -1\n", "1: key 'reactors': expected an integer from 0 to 1024");
    expect_error("\nlogin_timeout = 0\n", "2: key 'login_timeout': expected an integer from 1 to 86400");
    expect_error("nop_interval = \"30s\"\n", "1: key 'nop_interval': expected an integer from 0 to 86400");
    expect_error("max_outstanding_r2t = 0\n", "1: key 'max_outstanding_r2t': expected an integer from 1 to 65535");
    expect_error("log_level = \"loud\"\n",
                 "1: key 'log_level': expected one of trace, debug, info, warn, error, critical, off");
}

// ---- access: CHAP, allow lists, initiator entries, discovery, secrets (docs/security.md) ----

constexpr const char* kSecured = R"(chap_algorithms = ["SHA256", "md5"]

[discovery]
chap = { user = "disc", secret = "discovery-secret" }

[[target]]
iqn = "iqn.2026-11.org.iscsikit:secured"
portals = ["0.0.0.0:3260"]
allow = ["iqn.1993-08.org.debian:01:host1"]
chap = { user = "alice", secret = "alice-secret-0123" }
mutual_chap = { user = "target", secret = "target-secret-0123" }

  [[target.lun]]
  backing = "ram"
  size = "1M"

  [[target.initiator]]
  name = "iqn.1993-08.org.debian:01:host2"
  chap = { user = "host2", secret = "host2-secret-0123" }

    [[target.initiator.lun]]
    lun = 3
    target_lun = 0
    readonly = true
)";

TEST_F(ConfigFileTest, AccessKeysLoad) {
    std::ofstream(path_) << kSecured;
    ::chmod(path_.c_str(), 0600);
    auto r = load_config_file(path_);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->chap_algorithms, (std::vector{iscsi::ChapAlgorithm::sha256, iscsi::ChapAlgorithm::md5}));
    EXPECT_EQ(r->discovery_chap.user, "disc");
    const auto& access = r->targets[0].access;
    EXPECT_EQ(access.allow, std::vector<std::string>{"iqn.1993-08.org.debian:01:host1"});
    EXPECT_EQ(access.chap.secret, "alice-secret-0123");
    EXPECT_EQ(access.mutual_chap.user, "target");
    ASSERT_EQ(access.initiators.size(), 1u);
    EXPECT_TRUE(access.allows("iqn.1993-08.org.debian:01:host1"));
    EXPECT_TRUE(access.allows("iqn.1993-08.org.debian:01:host2")) << "an initiator entry allows it";
    EXPECT_FALSE(access.allows("iqn.1993-08.org.debian:01:host3"));
    EXPECT_EQ(access.policy("iqn.1993-08.org.debian:01:host2").chap.user, "host2");
    EXPECT_EQ(access.policy("iqn.1993-08.org.debian:01:host1").chap.user, "alice");
    ASSERT_EQ(access.initiators[0].luns.size(), 1u);
    EXPECT_EQ(access.initiators[0].luns[0].lun, 3u);
    EXPECT_EQ(access.initiators[0].luns[0].target_lun, 0u);
    EXPECT_TRUE(access.initiators[0].luns[0].read_only);
}

TEST_F(ConfigFileTest, WorldReadableFileWithSecretsIsRefused) {
    std::ofstream(path_) << kSecured;
    ::chmod(path_.c_str(), 0644);
    auto r = load_config_file(path_);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("holds CHAP secrets and everyone may read it (mode 0644)"), std::string::npos)
        << r.error().message;
}

TEST_F(ConfigFileTest, SecretFileMustBeReadableByTheDaemonOnly) {
    const std::string secret = path_ + ".secret";
    std::ofstream(secret) << "file-secret-01234\n";
    ::chmod(secret.c_str(), 0640);
    const std::string text =
        "[[target]]\niqn = \"iqn.2026-11.org.iscsikit:x\"\nportals = [\"127.0.0.1:3260\"]\n"
        "chap = { user = \"u\", secret_file = \"" +
        secret + "\" }\n[[target.lun]]\nbacking = \"ram\"\nsize = \"1M\"\n";
    auto r = load(text);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("group or others may read it (mode 0640); run chmod 600"), std::string::npos)
        << r.error().message;
    ::chmod(secret.c_str(), 0600);
    r = load(text);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->targets[0].access.chap.secret, "file-secret-01234") << "the trailing newline is not the secret's";
    EXPECT_EQ(r->targets[0].access.chap.secret_file, secret);
    ::unlink(secret.c_str());
}

TEST_F(ConfigFileTest, AccessMistakesAreNamed) {
    const std::string head = "[[target]]\niqn = \"iqn.2026-11.org.iscsikit:x\"\nportals = [\"127.0.0.1:3260\"]\n";
    const std::string lun = "[[target.lun]]\nbacking = \"ram\"\nsize = \"1M\"\n";
    expect_error(head + "chap = { user = \"u\", secret = \"short\" }\n" + lun,
                 "4: key 'target[0].chap': secret of user 'u' is shorter than 12 characters (RFC 7143 §9.2.1)");
    expect_error(head + "allow = [\"not a name\"]\n" + lun,
                 "4: key 'target[0].allow[0]': " + check_iscsi_name("not a name").error().message);
    expect_error(head + "chap = { user = \"u\" }\n" + lun,
                 "4: key 'target[0].chap.secret': missing: give secret or secret_file");
    expect_error(head + "chap = { user = \"u\", secret = \"x\", secret_file = \"/y\" }\n" + lun,
                 "4: key 'target[0].chap.secret_file': give secret or secret_file, not both");
    expect_error(head + lun +
                     "[[target.initiator]]\nname = \"iqn.2026-11.org.example:a\"\n[[target.initiator.lun]]\nlun = "
                     "0\ntarget_lun = 7\n",
                 "1: key 'target[0].allow': initiator 'iqn.2026-11.org.example:a': LUN 0 maps to target LUN 7, which "
                 "does not exist");
    expect_error("chap_algorithms = [\"MD4\"]\n",
                 "1: key 'chap_algorithms': 'MD4': expected SHA3-256, SHA256, SHA1 or MD5");
}

TEST(Validate, NonLoopbackPortalNeedsChapOrAnAllowList) {
    DaemonConfig config = default_config();
    config.targets[0].portals = {PortalAddress{"0.0.0.0", 3260}};
    auto r = validate(config);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("portal 0.0.0.0:3260 is reachable from other machines and the target has "
                                     "neither CHAP nor an allow list"),
              std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("--allow '*'"), std::string::npos) << "the error says how to opt in";
    config.targets[0].access.allow = {"*"};
    EXPECT_TRUE(validate(config)) << "allow = [\"*\"] is the explicit opt-in";
    config.targets[0].access.allow.clear();
    config.targets[0].access.chap = {"alice", "alice-secret-0123", ""};
    EXPECT_TRUE(validate(config));
    EXPECT_TRUE(validate(default_config())) << "loopback stays open (the README's first command)";
}

TEST(Validate, MutualSecretMustDifferAndNeedsOneWayChap) {
    DaemonConfig config = default_config();
    config.targets[0].access.mutual_chap = {"target", "target-secret-0123", ""};
    auto r = validate(config);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("mutual_chap needs chap"), std::string::npos) << r.error().message;
    config.targets[0].access.chap = {"alice", "target-secret-0123", ""};
    r = validate(config);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("RFC 7143 §12.1.3 forbids one secret for both directions"), std::string::npos)
        << r.error().message;
}

TEST(ParseChapSpec, UserSecretSplitAtTheLastColon) {
    auto chap = parse_chap_spec("iqn.1993-08.org.debian:01:host1:a-secret-0123");
    ASSERT_TRUE(chap) << chap.error().message;
    EXPECT_EQ(chap->user, "iqn.1993-08.org.debian:01:host1");
    EXPECT_EQ(chap->secret, "a-secret-0123");
    EXPECT_FALSE(parse_chap_spec("nocolon"));
    EXPECT_FALSE(parse_chap_spec(":secret"));
    EXPECT_FALSE(parse_chap_spec("user:"));
    EXPECT_FALSE(parse_chap_spec("user:@/nonexistent/secret"));
}

TEST(LoopbackHost, OnlyThisMachine) {
    EXPECT_TRUE(is_loopback_host("127.0.0.1"));
    EXPECT_TRUE(is_loopback_host("127.1.2.3"));
    EXPECT_TRUE(is_loopback_host("::1"));
    EXPECT_TRUE(is_loopback_host("localhost"));
    EXPECT_FALSE(is_loopback_host("0.0.0.0"));
    EXPECT_FALSE(is_loopback_host("::"));
    EXPECT_FALSE(is_loopback_host("192.168.1.10"));
}

TEST_F(ConfigFileTest, MetricsWithoutAPortIsRefused) {
    expect_error("metrics = \"127.0.0.1\"\n",
                 "1: key 'metrics': metrics address '127.0.0.1' needs a port, e.g. 127.0.0.1:9460");
    auto r = load("metrics = \"127.0.0.1:9460\"\n");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->metrics, (PortalAddress{"127.0.0.1", 9460}));
}

// ---- save: the running configuration written back reads back the same ----

TEST_F(ConfigFileTest, SavedFileLoadsBackTheSameConfiguration) {
    for (const char* text : {kGood, kSecured}) {
        std::ofstream(path_) << text;
        ::chmod(path_.c_str(), 0600);
        auto first = load_config_file(path_);
        ASSERT_TRUE(first) << first.error().message;
        first->rpc_socket = "/run/iscsikit/rpc.sock";
        first->metrics = PortalAddress{"127.0.0.1", 9460};
        const std::string saved = path_ + ".saved";
        ASSERT_TRUE(save_config_file(*first, saved));
        struct stat st {};
        ASSERT_EQ(::stat(saved.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, has_inline_secret(*first) ? 0600u : 0644u);
        auto second = load_config_file(saved);
        ASSERT_TRUE(second) << second.error().message << "\n" << to_toml(*first);
        EXPECT_EQ(to_toml(*second), to_toml(*first)) << "a second save writes the same file";
        EXPECT_EQ(second->rpc_socket, "/run/iscsikit/rpc.sock");
        ASSERT_TRUE(second->metrics);
        EXPECT_EQ(second->metrics->to_string(), "127.0.0.1:9460");
        ASSERT_EQ(second->targets.size(), first->targets.size());
        for (std::size_t t = 0; t < first->targets.size(); ++t) {
            const auto &a = first->targets[t], &b = second->targets[t];
            EXPECT_EQ(a.iqn, b.iqn);
            EXPECT_EQ(a.access.allow, b.access.allow);
            EXPECT_EQ(a.access.chap.secret, b.access.chap.secret);
            EXPECT_EQ(a.access.initiators.size(), b.access.initiators.size());
            ASSERT_EQ(a.luns.size(), b.luns.size());
            for (std::size_t l = 0; l < a.luns.size(); ++l) EXPECT_EQ(a.luns[l].to_string(), b.luns[l].to_string());
        }
        ::unlink(saved.c_str());
    }
}

}  // namespace
}  // namespace iscsikit::target
