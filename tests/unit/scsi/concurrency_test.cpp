// Several reactor threads share one LogicalUnit: every command must complete exactly once with
// either its normal outcome or a unit attention, while another thread changes the shared state.
#include <atomic>
#include <thread>

#include "scsi_test_support.hpp"

namespace iscsikit::scsi::test {
namespace {

TEST(Concurrency, ThreadsShareOneLogicalUnit) {
    auto lu = std::make_shared<LogicalUnit>(identity(), ram(4096));
    constexpr int kThreads = 4;
    constexpr int kCommands = 2000;
    std::atomic<bool> stop{false};
    std::atomic<int> unexpected{0};

    auto worker = [&](std::uint64_t nexus) {
        NullIoEngine io;
        Command c;
        for (int i = 0; i < kCommands; ++i) {
            // Disjoint ranges per thread: concurrent writes to the same blocks race by nature.
            const std::uint32_t lba = static_cast<std::uint32_t>((nexus - 1) * 1000 + (i % 400) * 2);
            const Bytes cdb = i % 3 == 0   ? write10(lba, 2)
                              : i % 3 == 1 ? read10(lba, 2)
                                           : Bytes{0x1a, 0, 0x3f, 0, 255, 0};
            c.cdb = {};
            std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
            c.nexus = nexus;
            c.buffer.assign(i % 3 == 0 ? 1024 : 0, std::byte{std::uint8_t(i)});
            int calls = 0;
            lu->execute(c, io, [&] { ++calls; });
            const bool ok = c.status == Status::good ||
                            (c.status == Status::check_condition && c.sense.key == SenseKey::unit_attention);
            if (calls != 1 || !ok) ++unexpected;
        }
    };
    std::thread disturber([&] {
        NullIoEngine io;
        std::uint8_t wce = 0;
        while (!stop.load()) {
            lu->unit_attention_all(0x2a, 0x09);
            Command c;
            const Bytes cdb{0x15, 0x10, 0, 0, 24, 0};
            std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
            c.nexus = 99;
            Bytes page{0, 0, 0, 0, 0x08, 0x12, wce, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
            for (auto b : page) c.buffer.push_back(std::byte{b});
            lu->execute(c, io, [] {});
            wce ^= 0x04;
            lu->forget_nexus(1000);
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) workers.emplace_back(worker, std::uint64_t(t + 1));
    for (auto& w : workers) w.join();
    stop = true;
    disturber.join();
    EXPECT_EQ(unexpected.load(), 0);
}

}  // namespace
}  // namespace iscsikit::scsi::test
