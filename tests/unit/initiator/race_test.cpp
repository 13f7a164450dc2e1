// Two initiators, each on a thread of its own, against the target in this process: the pool places
// their connections on its two reactors (round robin), so the logical unit's shared state is
// reached from two threads at once. COMPARE AND WRITE stays atomic (no increment of a counter
// kept with it is lost) and persistent reservations hold (of two racing reservations exactly one
// wins, and the loser is kept out until the winner releases).
#include <gtest/gtest.h>

#include <array>
#include <barrier>
#include <thread>

#include "initiator/blocking.hpp"
#include "loopback.hpp"
#include "scsi/sense_decode.hpp"

namespace iscsikit::initiator::testing {
namespace {

using target::testing::kBlock;

constexpr const char* kNames[] = {"iqn.2026-12.org.iscsikit:racer-a", "iqn.2026-12.org.iscsikit:racer-b"};

std::unique_ptr<BlockingSession> connect_as(const Url& url, const char* name) {
    SessionOptions opts;
    opts.initiator_name = name;
    auto s = BlockingSession::connect(url, opts);
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
}

std::optional<scsi::SenseKey> sense_key(const Completion& c) {
    auto sense = scsi::decode_sense(c.sense);
    if (!sense) return std::nullopt;
    return sense->key;
}

Result<Completion> read_block(BlockingSession& s, std::uint64_t lba, std::span<std::byte> buf) {
    Command c;
    c.cdb = scsi::build::read16(lba, 1);
    c.direction = DataDirection::read;
    c.read_buffer = buf;
    return s.execute(c);
}

std::uint64_t counter_in(std::span<const std::byte> block) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | std::to_integer<std::uint64_t>(block[static_cast<std::size_t>(i)]);
    return v;
}

void put_counter(std::span<std::byte> block, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) block[static_cast<std::size_t>(i)] = std::byte(std::uint8_t(v >> (56 - 8 * i)));
}

class RaceTest : public LoopbackTest {};

TEST_F(RaceTest, CompareAndWriteFromTwoReactorsLosesNoIncrement) {
    start();
    constexpr int kIncrements = 150;
    std::array<int, 2> miscompares{};
    std::array<int, 2> unexpected{};
    // Both log in first, then start together: one racer must not finish before the other begins.
    std::barrier start_line(2);
    auto racer = [&](int who) {
        auto s = connect_as(url(), kNames[who]);
        start_line.arrive_and_wait();
        if (!s) {
            ++unexpected[who];
            return;
        }
        std::vector<std::byte> block(kBlock), both(2 * kBlock);
        for (int done = 0; done < kIncrements;) {
            auto r = read_block(*s, 0, block);
            if (!r || !r->good()) {
                ++unexpected[who];
                continue;
            }
            const std::uint64_t seen = counter_in(block);
            std::copy(block.begin(), block.end(), both.begin());
            std::copy(block.begin(), block.end(), both.begin() + kBlock);
            put_counter(std::span(both).subspan(kBlock), seen + 1);
            Command caw;
            caw.cdb[0] = 0x89;
            caw.cdb[13] = 1;
            caw.direction = DataDirection::write;
            caw.write_data = both;
            auto w = s->execute(caw);
            if (w && w->good()) {
                ++done;
            } else if (w && sense_key(*w) == scsi::SenseKey::miscompare) {
                ++miscompares[who];
            } else {
                ++unexpected[who];
                if (!w) return;
            }
        }
        s->logout();
    };
    std::thread a(racer, 0), b(racer, 1);
    a.join();
    b.join();
    EXPECT_EQ(unexpected[0] + unexpected[1], 0);

    auto s = connect_as(url(), kNames[0]);
    ASSERT_TRUE(s);
    std::vector<std::byte> block(kBlock);
    auto r = read_block(*s, 0, block);
    ASSERT_TRUE(r && r->good());
    EXPECT_EQ(counter_in(block), 2u * kIncrements);
    // Both raced for real: some compares saw the other's increment land first.
    EXPECT_GT(miscompares[0] + miscompares[1], 0);
}

Command prout(std::uint8_t service_action, std::uint8_t type, std::uint64_t key, std::uint64_t sa_key,
              std::span<std::byte> parameters) {
    Command c;
    c.cdb[0] = 0x5f;
    c.cdb[1] = service_action;
    c.cdb[2] = type;  // LU_SCOPE
    c.cdb[8] = 24;
    std::fill(parameters.begin(), parameters.end(), std::byte{0});
    for (int i = 0; i < 8; ++i) {
        parameters[static_cast<std::size_t>(i)] = std::byte(std::uint8_t(key >> (56 - 8 * i)));
        parameters[static_cast<std::size_t>(8 + i)] = std::byte(std::uint8_t(sa_key >> (56 - 8 * i)));
    }
    c.direction = DataDirection::write;
    c.write_data = parameters;
    return c;
}

TEST_F(RaceTest, OfTwoRacingReservationsExactlyOneWinsAndKeepsTheOtherOut) {
    start();
    constexpr std::uint8_t kRegister = 0, kReserve = 1, kRelease = 2, kExclusiveAccess = 3;
    constexpr int kRounds = 40;
    std::array<std::unique_ptr<BlockingSession>, 2> s{connect_as(url(), kNames[0]), connect_as(url(), kNames[1])};
    ASSERT_TRUE(s[0] && s[1]);
    const std::array<std::uint64_t, 2> keys{0xaaaa, 0xbbbb};
    std::array<std::array<std::byte, 24>, 2> parameters{};
    for (int who = 0; who < 2; ++who) {
        auto r = s[who]->execute(prout(kRegister, 0, 0, keys[who], parameters[who]));
        ASSERT_TRUE(r && r->good());
    }

    std::array<int, 2> wins{};
    for (int round = 0; round < kRounds; ++round) {
        std::barrier start_line(2);
        std::array<scsi::Status, 2> status{};
        auto reserve = [&](int who) {
            start_line.arrive_and_wait();
            auto r = s[who]->execute(prout(kReserve, kExclusiveAccess, keys[who], 0, parameters[who]));
            status[who] = r ? r->status : scsi::Status::busy;
        };
        std::thread a(reserve, 0), b(reserve, 1);
        a.join();
        b.join();
        const int winner = status[0] == scsi::Status::good ? 0 : 1;
        const int loser = 1 - winner;
        ASSERT_EQ(status[winner], scsi::Status::good) << "round " << round;
        ASSERT_EQ(status[loser], scsi::Status::reservation_conflict) << "round " << round;
        ++wins[winner];

        // Exclusive Access: the other registrant may not even read (SPC-4 §5.13.1).
        std::vector<std::byte> block(kBlock);
        auto kept_out = read_block(*s[loser], 0, block);
        ASSERT_TRUE(kept_out);
        EXPECT_EQ(kept_out->status, scsi::Status::reservation_conflict);
        auto reads = read_block(*s[winner], 0, block);
        ASSERT_TRUE(reads);
        EXPECT_TRUE(reads->good());

        auto released = s[winner]->execute(prout(kRelease, kExclusiveAccess, keys[winner], 0, parameters[winner]));
        ASSERT_TRUE(released && released->good());
        auto let_in = read_block(*s[loser], 0, block);
        ASSERT_TRUE(let_in);
        EXPECT_TRUE(let_in->good());
    }
    EXPECT_EQ(wins[0] + wins[1], kRounds);
    for (auto& session : s) session->logout();
}

}  // namespace
}  // namespace iscsikit::initiator::testing
