// Helpers for the scsi/ unit tests: an IoEngine that must never be used (the RAM store
// completes inline), a store wrapper that defers completions (the asynchronous path), and a
// harness that runs one CDB through a LogicalUnit and returns the finished command.
#pragma once

#include <cerrno>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "backstore/backstore.hpp"
#include "scsi/logical_unit.hpp"

namespace iscsikit::scsi::test {

class NullIoEngine final : public IoEngine {
public:
    void read(int, std::uint64_t, ByteSpan, IoCallback done) override { done(-ENOSYS); }
    void write(int, std::uint64_t, ConstByteSpan, IoCallback done) override { done(-ENOSYS); }
    void fsync(int, bool, IoCallback done) override { done(-ENOSYS); }
    int event_fd() const override { return -1; }
    unsigned reap() override { return 0; }
    void submit() override {}
};

// Wraps a store; completions wait in a queue until drain(), like io_uring's. Records writes.
class DeferredStore final : public backstore::Backstore {
public:
    explicit DeferredStore(std::unique_ptr<backstore::Backstore> inner) : inner_(std::move(inner)) {}
    std::string describe() const override { return "deferred:" + inner_->describe(); }
    std::uint64_t size_bytes() const override { return inner_->size_bytes(); }
    std::uint32_t block_size() const override { return inner_->block_size(); }
    bool read_only() const override { return inner_->read_only(); }
    void read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) override {
        inner_->read(offset, dst, io,
                     [this, done = std::move(done)](int res) mutable { pending_.push_back([done = std::move(done), res] { done(res); }); });
    }
    void write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) override {
        writes.push_back({offset, src.size(), fua});
        inner_->write(offset, src, fua, io,
                      [this, done = std::move(done)](int res) mutable { pending_.push_back([done = std::move(done), res] { done(res); }); });
    }
    void flush(IoEngine& io, IoCallback done) override {
        ++flushes;
        inner_->flush(io, [this, done = std::move(done)](int res) mutable { pending_.push_back([done = std::move(done), res] { done(res); }); });
    }
    void unmap(std::uint64_t offset, std::uint64_t length, IoEngine& io, IoCallback done) override {
        unmaps.push_back({offset, static_cast<std::size_t>(length), false});
        inner_->unmap(offset, length, io,
                      [this, done = std::move(done)](int res) mutable { pending_.push_back([done = std::move(done), res] { done(res); }); });
    }
    tl::expected<Provisioning, int> provisioning(std::uint64_t offset, std::uint64_t max_length) const override {
        if (provisioning_override) return provisioning_override(offset, max_length);
        return inner_->provisioning(offset, max_length);
    }
    // Runs queued completions (and those they queue) until none is left; returns how many ran.
    int drain() {
        int n = 0;
        while (!pending_.empty()) {
            auto next = std::move(pending_.front());
            pending_.pop_front();
            next();
            ++n;
        }
        return n;
    }
    struct Write {
        std::uint64_t offset;
        std::size_t length;
        bool fua;
    };
    std::vector<Write> writes;
    std::vector<Write> unmaps;  // fua unused
    int flushes = 0;
    // Stands in for the store's answer to provisioning() when set.
    std::function<tl::expected<Provisioning, int>(std::uint64_t, std::uint64_t)> provisioning_override;

private:
    std::unique_ptr<backstore::Backstore> inner_;
    std::deque<Callback<void()>> pending_;
};

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

    Command run(Bytes cdb, Bytes data_out = {}, std::uint64_t nexus = 1) {
        Command c;
        std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
        c.nexus = nexus;
        for (auto b : data_out) c.buffer.push_back(std::byte{b});
        c.expected_transfer_length = static_cast<std::uint32_t>(data_out.size());
        int calls = 0;
        lu->execute(c, io, [&] { ++calls; });
        deferred_->drain();
        EXPECT_EQ(calls, 1) << "completion must run exactly once";
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
