// The initiator against the project's own target, both in the test process: a target::Server on
// 127.0.0.1 (two 1 MiB RAM LUNs, from tests/unit/target/target_fixture.hpp) and an io_context the
// test drives until each coroutine it runs is done.
#pragma once

#include <functional>
#include <optional>
#include <random>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "initiator/session.hpp"
#include "target_fixture.hpp"

namespace iscsikit::initiator::testing {

// `n` bytes from a seeded generator: the same bytes for the same seed.
inline std::vector<std::byte> random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::byte> out(n);
    for (auto& b : out) b = static_cast<std::byte>(rng());
    return out;
}

class LoopbackTest : public target::testing::TargetTest {
protected:
    // Runs `make()` to completion on io_ and returns its result (io_ keeps other work, such as a
    // session's timers, for later calls).
    template <class T>
    T run(std::function<asio::awaitable<T>()> make) {
        std::optional<T> out;
        asio::co_spawn(
            io_, [&]() -> asio::awaitable<void> { out.emplace(co_await make()); }, asio::detached);
        while (!out) io_.run_one();
        return std::move(*out);
    }

    Url url(std::uint64_t lun = 0, std::string target = target::testing::kTargetIqn) const {
        Url u;
        u.portal = Portal{"127.0.0.1", port()};
        u.target = std::move(target);
        u.lun = lun;
        return u;
    }

    std::shared_ptr<Session> connect(SessionOptions opts = {}) {
        auto s =
            run<Result<std::shared_ptr<Session>>>([&] { return Session::connect(io_.get_executor(), url(), opts); });
        EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
        return s ? *s : nullptr;
    }

    asio::io_context io_;
};

}  // namespace iscsikit::initiator::testing
