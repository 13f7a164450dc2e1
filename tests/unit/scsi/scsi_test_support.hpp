// Helpers for the scsi/ unit tests: the test doubles of deferred_store.hpp, and a harness that
// runs one CDB through a LogicalUnit and returns the finished command.
#pragma once

#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "backstore/backstore.hpp"
#include "deferred_store.hpp"
#include "scsi/logical_unit.hpp"

namespace iscsikit::scsi::test {

inline std::unique_ptr<backstore::Backstore> ram(std::uint64_t blocks = 1024, std::uint32_t block_size = 512,
                                                 bool read_only = false) {
    backstore::Options o;
    o.block_size = block_size;
    o.size = blocks * block_size;
    o.read_only = read_only;
    auto store = backstore::make_ram(o);
    EXPECT_TRUE(store.has_value());
    return std::move(*store);
}

inline LuIdentity identity() {
    LuIdentity id;
    id.serial = "SN0001";
    id.naa = 0x6001405123456789ull;
    id.target_port_name = "iqn.2026-11.org.iscsikit:t1,t,0x0001";
    return id;
}

inline LuIdentity thin_identity() {
    LuIdentity id = identity();
    id.thin = true;
    return id;
}

using Bytes = std::vector<std::uint8_t>;

inline Bytes bytes_of(const Command& c) {
    Bytes out(c.data_in_length);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(c.buffer[i]);
    return out;
}

// Runs CDBs through a LogicalUnit (or a Device) and checks the completion runs exactly once.
class Harness {
public:
    explicit Harness(std::unique_ptr<backstore::Backstore> store = ram(), LuIdentity id = identity()) {
        auto deferred = std::make_unique<DeferredStore>(std::move(store));
        deferred_ = deferred.get();
        lu = std::make_shared<LogicalUnit>(std::move(id), std::move(deferred));
        clear_power_on(1);
    }

    Command run(Bytes cdb, Bytes data_out = {}, std::uint64_t nexus = 1,
                std::span<const std::uint8_t> transport_id = {}) {
        Command c = command(cdb, data_out, nexus);
        c.transport_id = transport_id;
        int calls = 0;
        lu->execute(c, io, [&] { ++calls; });
        deferred_->drain();
        EXPECT_EQ(calls, 1) << "completion must run exactly once";
        return c;
    }

    // Runs a command that must complete without waiting for the store, and leaves the store's
    // pending completions alone (what the LU does in the background, a sanitize, goes on).
    Command run_now(Bytes cdb, Bytes data_out = {}, std::uint64_t nexus = 1) {
        Command c = command(cdb, data_out, nexus);
        int calls = 0;
        lu->execute(c, io, [&] { ++calls; });
        EXPECT_EQ(calls, 1) << "the command must complete without the store";
        return c;
    }

    void clear_power_on(std::uint64_t nexus) {
        Command c = run({0x00, 0, 0, 0, 0, 0}, {}, nexus);
        EXPECT_EQ(c.status, Status::check_condition);
        EXPECT_EQ(c.sense.asc, 0x29);
    }

    DeferredStore& store() { return *deferred_; }

    std::shared_ptr<LogicalUnit> lu;
    NullIoEngine io;

private:
    static Command command(const Bytes& cdb, const Bytes& data_out, std::uint64_t nexus) {
        Command c;
        std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
        c.nexus = nexus;
        for (auto b : data_out) c.buffer.push_back(std::byte{b});
        c.expected_transfer_length = static_cast<std::uint32_t>(data_out.size());
        return c;
    }

    DeferredStore* deferred_;
};

inline void expect_sense(const Command& c, SenseKey key, std::uint8_t asc, std::uint8_t ascq) {
    EXPECT_EQ(c.status, Status::check_condition);
    EXPECT_EQ(c.sense.key, key);
    EXPECT_EQ(c.sense.asc, asc);
    EXPECT_EQ(c.sense.ascq, ascq);
}

inline void expect_invalid_cdb_field(const Command& c, std::uint16_t byte) {
    expect_sense(c, SenseKey::illegal_request, 0x24, 0x00);
    ASSERT_TRUE(c.sense.field_pointer.has_value());
    EXPECT_EQ(*c.sense.field_pointer, byte);
    EXPECT_TRUE(c.sense.field_in_cdb);
}

inline void expect_invalid_parameter_list_field(const Command& c, std::uint16_t byte) {
    expect_sense(c, SenseKey::illegal_request, 0x26, 0x00);
    ASSERT_TRUE(c.sense.field_pointer.has_value());
    EXPECT_EQ(*c.sense.field_pointer, byte);
    EXPECT_FALSE(c.sense.field_in_cdb);
}

inline void expect_good(const Command& c) {
    EXPECT_EQ(c.status, Status::good) << "sense " << int(c.sense.key) << "/" << std::hex << int(c.sense.asc) << "/"
                                      << int(c.sense.ascq);
}

// CDB builders for the commands the tests use most.
inline Bytes read10(std::uint32_t lba, std::uint16_t blocks, std::uint8_t flags = 0) {
    return {0x28,
            flags,
            std::uint8_t(lba >> 24),
            std::uint8_t(lba >> 16),
            std::uint8_t(lba >> 8),
            std::uint8_t(lba),
            0,
            std::uint8_t(blocks >> 8),
            std::uint8_t(blocks),
            0};
}
inline Bytes write10(std::uint32_t lba, std::uint16_t blocks, std::uint8_t flags = 0) {
    Bytes c = read10(lba, blocks, flags);
    c[0] = 0x2a;
    return c;
}
inline Bytes cdb16(std::uint8_t opcode, std::uint64_t lba, std::uint32_t blocks, std::uint8_t flags = 0) {
    Bytes c(16, 0);
    c[0] = opcode;
    c[1] = flags;
    for (int i = 0; i < 8; ++i) c[2 + i] = std::uint8_t(lba >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i) c[10 + i] = std::uint8_t(blocks >> (24 - 8 * i));
    return c;
}
inline Bytes pattern(std::size_t n, std::uint8_t seed) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = std::uint8_t(seed + i * 7);
    return b;
}

}  // namespace iscsikit::scsi::test
