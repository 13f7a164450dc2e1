// The daemon's metrics as Prometheus text (docs/management.md lists them): read from the
// target's counters (target/metrics.hpp), the LUs' backing-store health and the block caches.
// Called on the metrics server's thread; takes no lock a reactor holds on the data path.
#pragma once

#include <string>

namespace iscsikit::target {
class Server;
}

namespace iscsikit::control {

std::string render_metrics(const target::Server& server);

}  // namespace iscsikit::control
