#include "target/registry.hpp"

namespace iscsikit::target {

std::optional<std::uint16_t> SessionTable::add(const Key& key, Closer closer, SessionInfo info, TaskAborter aborter) {
    Closer previous;
    std::uint16_t tsih = 0;
    {
        std::lock_guard lock(mutex_);
        for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
            if (it->second.key == key) {
                previous = std::move(it->second.closer);
                sessions_.erase(it);
                break;
            }
        }
        if (sessions_.size() >= 0xfffe) return std::nullopt;
        // RFC 7143 §11.12.6: TSIH 0 is reserved for "new session"; pick the next free value.
        while (next_tsih_ == 0 || sessions_.contains(next_tsih_)) ++next_tsih_;
        tsih = next_tsih_++;
        info.tsih = tsih;
        info.initiator = std::get<0>(key);
        info.isid = std::get<1>(key);
        info.target = std::get<2>(key);
        sessions_.emplace(tsih, Entry{key, std::move(closer), std::move(info), std::move(aborter)});
    }
    if (previous) previous();
    return tsih;
}

void SessionTable::remove(std::uint16_t tsih) {
    std::lock_guard lock(mutex_);
    sessions_.erase(tsih);
}

bool SessionTable::contains(std::uint16_t tsih) const {
    std::lock_guard lock(mutex_);
    return sessions_.contains(tsih);
}

std::size_t SessionTable::size() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

std::vector<SessionInfo> SessionTable::list() const {
    std::lock_guard lock(mutex_);
    std::vector<SessionInfo> out;
    for (const auto& [tsih, entry] : sessions_) out.push_back(entry.info);
    return out;
}

bool SessionTable::close(std::uint16_t tsih) {
    Closer closer;
    {
        std::lock_guard lock(mutex_);
        auto it = sessions_.find(tsih);
        if (it == sessions_.end()) return false;
        closer = it->second.closer;
    }
    closer();
    return true;
}

std::size_t SessionTable::close_target(const std::string& iqn) {
    std::vector<Closer> closers;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [tsih, entry] : sessions_)
            if (std::get<2>(entry.key) == iqn) closers.push_back(entry.closer);
    }
    for (auto& closer : closers) closer();
    return closers.size();
}

std::vector<SessionTable::TaskAborter> SessionTable::aborters(const std::function<bool(const Key&)>& pick) const {
    std::lock_guard lock(mutex_);
    std::vector<TaskAborter> out;
    for (const auto& [tsih, entry] : sessions_)
        if (entry.aborter && pick(entry.key)) out.push_back(entry.aborter);
    return out;
}

void SessionTable::close_all() {
    std::vector<Closer> closers;
    {
        std::lock_guard lock(mutex_);
        for (auto& [tsih, entry] : sessions_) closers.push_back(entry.closer);
    }
    for (auto& c : closers) c();
}

}  // namespace iscsikit::target
