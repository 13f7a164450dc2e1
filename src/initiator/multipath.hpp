// Internal to src/initiator/: round-robin multipath. One SessionImpl (one session, its own ISID)
// per portal; commands go to the healthy paths in turn. A path whose connection is lost has its
// unsent commands moved to a healthy path and keeps reconnecting in the background, so it joins
// again when it comes back. With no path up for longer than the reconnect timeout, queued
// commands fail with connection_lost.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include <asio/steady_timer.hpp>

#include "initiator/session_impl.hpp"

namespace iscsikit::initiator {

class Multipath : public std::enable_shared_from_this<Multipath> {
public:
    Multipath(asio::any_io_executor executor, std::vector<std::shared_ptr<SessionImpl>> paths,
              std::chrono::milliseconds give_up);
    void start();
    void submit(Command cmd, Completed done);
    void shutdown();
    const std::vector<std::shared_ptr<SessionImpl>>& paths() const { return paths_; }

private:
    SessionImpl* pick();
    void rebalance();
    void watch();

    asio::any_io_executor executor_;
    std::vector<std::shared_ptr<SessionImpl>> paths_;
    std::chrono::milliseconds give_up_;
    std::size_t next_ = 0;
    asio::steady_timer timer_;
    std::optional<Clock::time_point> all_down_since_;
};

}  // namespace iscsikit::initiator
