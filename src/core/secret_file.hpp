// Secrets kept in a file of their own (CHAP secrets, for the daemon and the tool): readable by
// the owner only, like ssh's keys, so that a secret never has to be typed on a command line.
#pragma once

#include <string>

#include "core/result.hpp"

namespace iscsikit {

// The file's content without its trailing newline. Refused when group or others may read it
// (the message says to chmod 600), when it is empty, or when it is not a regular file.
Result<std::string> read_secret_file(const std::string& path);

}  // namespace iscsikit
