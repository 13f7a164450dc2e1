// Test doubles for the scsi/ layer that need no test framework, so unit tests and fuzzers share
// them: an IoEngine that must never be used for I/O (the RAM store completes inline) and whose
// timer records each pause and ends it at once, and a store wrapper that defers completions (the
// asynchronous path, like io_uring's).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <system_error>
#include <vector>

#include "backstore/backstore.hpp"
#include "core/io_engine.hpp"

namespace iscsikit::scsi::test {

class NullIoEngine final : public IoEngine {
public:
    void read(int, std::uint64_t, ByteSpan, IoCallback done) override { done(unused()); }
    void write(int, std::uint64_t, ConstByteSpan, IoCallback done) override { done(unused()); }
    void write_durable(int, std::uint64_t, ConstByteSpan, IoCallback done) override { done(unused()); }
    void fsync(int, bool, IoCallback done) override { done(unused()); }
    void after(std::chrono::nanoseconds delay, IoCallback done) override {
        pauses.push_back(delay);
        done(std::error_code{});
    }
    int event_fd() const override { return -1; }
    unsigned reap() override { return 0; }
    void submit() override {}

    std::vector<std::chrono::nanoseconds> pauses;  // what after() was asked to wait, in order

private:
    static std::error_code unused() { return std::make_error_code(std::errc::function_not_supported); }  // ENOSYS
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
        ++reads;
        inner_->read(offset, dst, io, [this, done = std::move(done)](std::error_code ec) mutable {
            pending_.push_back([done = std::move(done), ec] { done(ec); });
        });
    }
    void write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) override {
        writes.push_back({offset, src.size(), fua});
        if (write_error) {
            pending_.push_back([done = std::move(done), ec = write_error] { done(ec); });
            return;
        }
        inner_->write(offset, src, fua, io, [this, done = std::move(done)](std::error_code ec) mutable {
            pending_.push_back([done = std::move(done), ec] { done(ec); });
        });
    }
    void flush(IoEngine& io, IoCallback done) override {
        ++flushes;
        inner_->flush(io, [this, done = std::move(done)](std::error_code ec) mutable {
            pending_.push_back([done = std::move(done), ec] { done(ec); });
        });
    }
    void unmap(std::uint64_t offset, std::uint64_t length, IoEngine& io, IoCallback done) override {
        unmaps.push_back({offset, static_cast<std::size_t>(length), false});
        inner_->unmap(offset, length, io, [this, done = std::move(done)](std::error_code ec) mutable {
            pending_.push_back([done = std::move(done), ec] { done(ec); });
        });
    }
    tl::expected<Provisioning, std::error_code> provisioning(std::uint64_t offset,
                                                             std::uint64_t max_length) const override {
        if (provisioning_override) return provisioning_override(offset, max_length);
        return inner_->provisioning(offset, max_length);
    }
    // Runs the oldest queued completion, if any; true when one ran.
    bool step() {
        if (pending_.empty()) return false;
        auto next = std::move(pending_.front());
        pending_.pop_front();
        next();
        return true;
    }
    // Runs queued completions (and those they queue) until none is left; returns how many ran.
    int drain() {
        int n = 0;
        while (step()) ++n;
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
    int reads = 0;
    // When set, writes fail with it and leave the store as it was.
    std::error_code write_error{};
    // Stands in for the store's answer to provisioning() when set.
    std::function<tl::expected<Provisioning, std::error_code>(std::uint64_t, std::uint64_t)> provisioning_override;

private:
    std::unique_ptr<backstore::Backstore> inner_;
    std::deque<Callback<void()>> pending_;
};

}  // namespace iscsikit::scsi::test
