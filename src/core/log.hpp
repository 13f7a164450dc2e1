// Process-wide logging through spdlog (the one allowed singleton, STYLE.md rule 7).
#pragma once

#include <unistd.h>

#include <string_view>

#include <spdlog/spdlog.h>

namespace iscsikit {

// Sets the default logger's level from a name ("trace", "debug", "info", "warn", "error", "off")
// and a pattern that carries the thread. Returns false when the name is not a level. When `log_fd`
// (the stream the default logger writes: stdout unless a program set another logger) is the
// systemd journal, lines carry a "<N>" syslog priority and no time stamp, which journald adds.
bool setup_logging(std::string_view level, int log_fd = STDOUT_FILENO);

// Whether `fd` is the stream systemd connected to the journal (JOURNAL_STREAM names it).
bool is_journal_stream(int fd);

}  // namespace iscsikit
