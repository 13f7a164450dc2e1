// Round-robin multipath over one session per portal.
#include "initiator/multipath.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace iscsikit::initiator {

namespace {
constexpr auto kWatchPeriod = std::chrono::milliseconds(200);
}

Multipath::Multipath(asio::any_io_executor executor, std::vector<std::shared_ptr<SessionImpl>> paths,
                     std::chrono::milliseconds give_up)
    : executor_(executor), paths_(std::move(paths)), give_up_(give_up), timer_(std::move(executor)) {}

void Multipath::start() {
    for (auto& path : paths_)
        path->set_path_listener([weak = weak_from_this()] {
            if (auto self = weak.lock()) self->rebalance();
        });
    watch();
}

SessionImpl* Multipath::pick() {
    for (std::size_t i = 0; i < paths_.size(); ++i) {
        SessionImpl* path = paths_[next_++ % paths_.size()].get();
        if (path->up()) return path;
    }
    return nullptr;
}

void Multipath::submit(Command cmd, Completed done) {
    SessionImpl* path = pick();
    // No path up: the command waits on one that is reconnecting (watch() bounds the wait).
    if (!path) path = paths_[next_++ % paths_.size()].get();
    path->submit(cmd, std::move(done));
}

void Multipath::rebalance() {
    bool any_up = false;
    for (auto& path : paths_) any_up = any_up || path->up();
    if (!any_up) return;
    for (auto& path : paths_) {
        if (path->up()) continue;
        auto moved = path->take_unsent();
        if (!moved.empty())
            spdlog::info("path {} is down: moving {} command(s) to the other paths", path->current_portal().to_string(),
                         moved.size());
        for (auto& unsent : moved) pick()->submit(unsent.cmd, std::move(unsent.done));
    }
}

void Multipath::watch() {
    bool any_up = false;
    for (auto& path : paths_) any_up = any_up || path->up();
    const auto now = Clock::now();
    if (any_up) {
        all_down_since_.reset();
    } else if (!all_down_since_) {
        all_down_since_ = now;
    } else if (now - *all_down_since_ > give_up_) {
        std::string portals;
        for (auto& path : paths_) portals += (portals.empty() ? "" : ", ") + path->current_portal().to_string();
        const std::string why =
            fmt::format("no path to {} has been up for {:g} s (portals {})", paths_[0]->url().target,
                        std::chrono::duration<double>(give_up_).count(), portals);
        for (auto& path : paths_)
            for (auto& unsent : path->take_unsent()) unsent.done(fail(ErrorKind::connection_lost, why));
    }
    timer_.expires_after(kWatchPeriod);
    timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
        if (auto self = weak.lock(); self && !ec) self->watch();
    });
}

void Multipath::shutdown() {
    timer_.cancel();
    for (auto& path : paths_) {
        path->set_path_listener(nullptr);
        path->shutdown();
    }
}

}  // namespace iscsikit::initiator
