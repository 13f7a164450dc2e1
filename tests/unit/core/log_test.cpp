// Logging under systemd (core/log.hpp): journald stamps lines itself and reads "<N>" priorities.
#include "core/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <regex>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

namespace iscsikit {
namespace {

// A temporary file standing in for the journal's stream, and JOURNAL_STREAM restored afterwards.
class JournalStreamTest : public ::testing::Test {
protected:
    void SetUp() override {
        char name[] = "/tmp/iscsikit-log-test-XXXXXX";
        fd_ = ::mkstemp(name);
        ASSERT_GE(fd_, 0);
        ::unlink(name);
        struct stat st {};
        ASSERT_EQ(::fstat(fd_, &st), 0);
        stream_id_ = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
        if (const char* old = std::getenv("JOURNAL_STREAM")) saved_ = old;
    }
    void TearDown() override {
        if (saved_)
            ::setenv("JOURNAL_STREAM", saved_->c_str(), 1);
        else
            ::unsetenv("JOURNAL_STREAM");
        ::close(fd_);
    }

    int fd_ = -1;
    std::string stream_id_;
    std::optional<std::string> saved_;
};

TEST_F(JournalStreamTest, IsTheJournalOnlyWhenJournalStreamNamesThatFile) {
    ::unsetenv("JOURNAL_STREAM");
    EXPECT_FALSE(is_journal_stream(fd_));
    ::setenv("JOURNAL_STREAM", stream_id_.c_str(), 1);
    EXPECT_TRUE(is_journal_stream(fd_));
    // inherited by a child whose output went elsewhere: not the journal
    int other = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    ASSERT_GE(other, 0);
    EXPECT_FALSE(is_journal_stream(other));
    ::close(other);
    ::setenv("JOURNAL_STREAM", "garbage", 1);
    EXPECT_FALSE(is_journal_stream(fd_));
}

TEST_F(JournalStreamTest, JournalLinesCarryPriorityAndLevelButNoTimeStamp) {
    std::ostringstream out;
    auto previous = spdlog::default_logger();
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("journal-test", std::make_shared<spdlog::sinks::ostream_sink_st>(out)));
    ::setenv("JOURNAL_STREAM", stream_id_.c_str(), 1);
    ASSERT_TRUE(setup_logging("debug", fd_));
    spdlog::warn("a peer misbehaved");
    spdlog::debug("detail");
    const auto journal = out.str();
    out.str("");
    ::unsetenv("JOURNAL_STREAM");
    ASSERT_TRUE(setup_logging("info", fd_));
    spdlog::info("plain");
    const auto plain = out.str();
    spdlog::set_default_logger(previous);
    setup_logging("info");

    // syslog priorities: warning 4, debug 7 (sd-daemon(3)); then the level, the thread, the text
    EXPECT_TRUE(journal.starts_with("<4>warning [")) << journal;
    EXPECT_NE(journal.find("] a peer misbehaved\n<7>debug ["), std::string::npos) << journal;
    const std::regex date(R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2})");
    EXPECT_FALSE(std::regex_search(journal, date)) << "a time stamp: " << journal;
    // elsewhere: a time stamp first, no priority
    EXPECT_TRUE(std::regex_search(plain, date, std::regex_constants::match_continuous)) << plain;
    EXPECT_NE(plain.find(" info  ["), std::string::npos) << plain;
    EXPECT_EQ(plain.find('<'), std::string::npos) << plain;
}

}  // namespace
}  // namespace iscsikit
