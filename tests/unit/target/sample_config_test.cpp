// dist/target.toml, the configuration the systemd unit starts with (docs/service.md): it loads as
// shipped, serves this machine only, and its commented examples load too once uncommented.
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "target/config.hpp"

namespace iscsikit::target {
namespace {

// CMake names the file (tests/CMakeLists.txt), so the test reads the source tree's copy.
const std::string kSample = ISCSIKIT_SAMPLE_CONFIG;

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(SampleConfig, LoadsAsShippedWithOneFileLunUnderTheStateDirectoryOnLoopback) {
    auto config = load_config_file(kSample);
    ASSERT_TRUE(config) << config.error().message;
    ASSERT_EQ(config->targets.size(), 1u);
    const auto& target = config->targets.front();
    // secure default: nothing reachable from the network until the administrator says so
    ASSERT_EQ(target.portals.size(), 1u);
    EXPECT_EQ(target.portals.front().to_string(), "127.0.0.1:3260");
    ASSERT_EQ(target.luns.size(), 1u);
    EXPECT_EQ(target.luns.front().kind, LunSpec::Kind::file);
    // the unit's StateDirectory=iscsikit, the one place ProtectSystem=strict lets it write
    EXPECT_EQ(target.luns.front().path.rfind("/var/lib/iscsikit/", 0), 0u) << target.luns.front().path;
    EXPECT_EQ(config->log_level, "info");
}

TEST(SampleConfig, CommentedExamplesLoadOnceUncommented) {
    // "  # [[target.lun]]" and "  # key = value" lines are examples; prose comments are not.
    std::regex example(R"((^|\n)  # (\[\[target\.lun\]\]|[a-z_]+ = ))");
    auto text = std::regex_replace(read_file(kSample), example, "$1  $2");
    const std::string path = ::testing::TempDir() + "iscsikit_sample_" + std::to_string(::getpid()) + ".toml";
    std::ofstream(path) << text;
    auto config = load_config_file(path);
    ::unlink(path.c_str());
    ASSERT_TRUE(config) << config.error().message << "\n" << text;
    ASSERT_EQ(config->targets.size(), 1u);
    EXPECT_EQ(config->targets.front().luns.size(), 4u) << text;
}

}  // namespace
}  // namespace iscsikit::target
