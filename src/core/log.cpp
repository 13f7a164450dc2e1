#include "core/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <spdlog/pattern_formatter.h>

namespace iscsikit {
namespace {

// sd-daemon(3)'s "<N>" prefix: journald takes it as the line's syslog priority (SyslogLevelPrefix=,
// on by default), so `journalctl -p warning` finds warnings and errors.
class JournalPriority final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& out) override {
        const char* prefix = "<6>";  // info
        switch (message.level) {
            case spdlog::level::trace:
            case spdlog::level::debug: prefix = "<7>"; break;
            case spdlog::level::warn: prefix = "<4>"; break;
            case spdlog::level::err: prefix = "<3>"; break;
            case spdlog::level::critical: prefix = "<2>"; break;
            default: break;
        }
        out.append(prefix, prefix + 3);
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JournalPriority>(); }
};

}  // namespace

bool is_journal_stream(int fd) {
    // systemd.exec(5): JOURNAL_STREAM is "DEVICE:INODE" of the stream connected to the journal.
    // A child may inherit the variable with its output redirected, hence the comparison.
    const char* journal = std::getenv("JOURNAL_STREAM");
    struct stat st {};
    if (journal == nullptr || ::fstat(fd, &st) != 0) return false;
    unsigned long long device = 0, inode = 0;
    if (std::sscanf(journal, "%llu:%llu", &device, &inode) != 2) return false;
    return device == st.st_dev && inode == st.st_ino;
}

bool setup_logging(std::string_view level, int log_fd) {
    auto parsed = spdlog::level::from_str(std::string(level));
    if (parsed == spdlog::level::off && level != "off") return false;
    spdlog::set_level(parsed);
    if (is_journal_stream(log_fd)) {
        // journald stamps each line itself; a second time stamp would only take room.
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<JournalPriority>('*').set_pattern("%*%-5l [%t] %v");
        spdlog::set_formatter(std::move(formatter));
    } else {
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%t] %v");
    }
    return true;
}

}  // namespace iscsikit
