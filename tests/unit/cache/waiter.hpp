// Waits for one IoCallback, which may run on another thread (the cache's flusher, for throttled
// writes): the cache tests' way to call the asynchronous store API synchronously.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <system_error>

#include <gtest/gtest.h>

#include "core/io_engine.hpp"

namespace iscsikit::cache::testing {

struct Waiter {
    std::mutex mutex;
    std::condition_variable cv;
    std::optional<std::error_code> result;
    IoCallback callback() {
        return [this](std::error_code ec) {
            std::lock_guard lock(mutex);
            result = ec;
            cv.notify_all();
        };
    }
    std::error_code wait() {
        std::unique_lock lock(mutex);
        EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return result.has_value(); }));
        return result.value_or(std::make_error_code(std::errc::timed_out));
    }
};

}  // namespace iscsikit::cache::testing
