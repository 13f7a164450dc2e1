// Shared by the backstore tests: drive an IoEngine until a callback has stored its result.
#pragma once

#include <poll.h>

#include <optional>
#include <system_error>

#include "core/io_engine.hpp"

namespace iscsikit::backstore::test {

// `result` starts empty (no callback yet); returns what the callback stored, or nothing on timeout.
inline std::optional<std::error_code> wait_for(IoEngine& io, std::optional<std::error_code>& result) {
    io.submit();
    for (int i = 0; i < 1000 && !result; ++i) {
        if (io.event_fd() >= 0) {
            pollfd p{io.event_fd(), POLLIN, 0};
            ::poll(&p, 1, 5000);
        }
        io.reap();
        io.submit();
    }
    return result;
}

}  // namespace iscsikit::backstore::test
