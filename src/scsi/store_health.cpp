#include "scsi/store_health.hpp"

#include <spdlog/spdlog.h>

namespace iscsikit::scsi {

namespace {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

const char* direction_name(bool write) { return write ? "write" : "read"; }

}  // namespace

StoreError classify_store_error(std::error_code ec) {
    if (ec == std::errc::no_space_on_device) return StoreError::no_space;
    if (ec == std::errc::io_error) return StoreError::io;
    if (ec == std::errc::read_only_file_system) return StoreError::read_only;
    return StoreError::other;
}

const char* store_error_name(StoreError kind) {
    switch (kind) {
        case StoreError::no_space: return "ENOSPC";
        case StoreError::io: return "EIO";
        case StoreError::read_only: return "EROFS";
        case StoreError::other: return "other";
    }
    return "other";
}

void StoreHealth::failed(std::error_code ec, bool write) {
    counts_[static_cast<std::size_t>(classify_store_error(ec))].fetch_add(1, std::memory_order_relaxed);
    auto& d = direction(write);
    d.last_failure_ns.store(now_ns(), std::memory_order_relaxed);
    // Warn: the environment failed (a full or broken file system), not our code; the initiator
    // gets the matching sense for every command meanwhile.
    if (!d.failing.exchange(true, std::memory_order_relaxed))
        spdlog::warn("{}: backing store {} failed: {}; SCSI commands fail until it recovers", name_,
                     direction_name(write), ec.message());
}

void StoreHealth::maybe_recovered(bool write) {
    auto& d = direction(write);
    const auto quiet = std::chrono::duration_cast<std::chrono::nanoseconds>(kRecoveryQuiet).count();
    if (now_ns() - d.last_failure_ns.load(std::memory_order_relaxed) < quiet) return;
    if (d.failing.exchange(false, std::memory_order_relaxed))
        spdlog::info("{}: backing store {}s recovered", name_, direction_name(write));
}

}  // namespace iscsikit::scsi
