#include "core/secret_file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace iscsikit {

Result<std::string> read_secret_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return fail(fmt::format("secret file {}: {}", path, std::strerror(errno)));
    if (!S_ISREG(st.st_mode)) return fail(fmt::format("secret file {}: not a regular file", path));
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        return fail(fmt::format("secret file {}: group or others may read it (mode {:04o}); run chmod 600 {}", path,
                                st.st_mode & 07777, path));
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(fmt::format("secret file {}: cannot read: {}", path, std::strerror(errno)));
    std::stringstream content;
    content << in.rdbuf();
    std::string secret = content.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) return fail(fmt::format("secret file {}: empty", path));
    return secret;
}

}  // namespace iscsikit
