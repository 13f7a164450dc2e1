// Backing-store failures: the initiator gets the sense that matches the errno, the LU counts the
// failure by kind, and the log says so once per change of state, not once per command.
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "scsi_test_support.hpp"

namespace iscsikit::scsi {
namespace {

using namespace test;

// A RAM store whose writes fail with `write_error` while it is set (a full or broken file system).
class FailingStore final : public backstore::Backstore {
public:
    explicit FailingStore(std::unique_ptr<backstore::Backstore> inner) : inner_(std::move(inner)) {}
    std::string describe() const override { return "failing:" + inner_->describe(); }
    std::uint64_t size_bytes() const override { return inner_->size_bytes(); }
    std::uint32_t block_size() const override { return inner_->block_size(); }
    bool read_only() const override { return inner_->read_only(); }
    void read(std::uint64_t offset, ByteSpan dst, IoEngine& io, IoCallback done) override {
        inner_->read(offset, dst, io, std::move(done));
    }
    void write(std::uint64_t offset, ConstByteSpan src, bool fua, IoEngine& io, IoCallback done) override {
        if (*write_error) return done(*write_error);
        inner_->write(offset, src, fua, io, std::move(done));
    }
    void flush(IoEngine& io, IoCallback done) override { inner_->flush(io, std::move(done)); }
    std::shared_ptr<std::error_code> write_error = std::make_shared<std::error_code>();

private:
    std::unique_ptr<backstore::Backstore> inner_;
};

// Captures what the default logger writes during a test.
class LogCapture {
public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    std::string text() const { return text_.str(); }
    std::size_t count(const std::string& what) const {
        const std::string all = text();
        std::size_t n = 0;
        for (auto at = all.find(what); at != std::string::npos; at = all.find(what, at + 1)) ++n;
        return n;
    }

private:
    std::ostringstream text_;
    std::shared_ptr<spdlog::logger> previous_;
};

TEST(StoreHealth, FullFileSystemIsSpaceAllocationFailedCountedAndLoggedOncePerChangeOfState) {
    LogCapture log;
    auto store = std::make_unique<FailingStore>(ram());
    auto write_error = store->write_error;
    auto id = identity();
    id.log_name = "target iqn.test LUN 3";
    Harness h(std::move(store), id);

    *write_error = std::make_error_code(std::errc::no_space_on_device);
    for (int i = 0; i < 5; ++i) {
        auto c = h.run(write10(i, 1), pattern(512, 1));
        expect_sense(c, SenseKey::data_protect, 0x27, 0x07);  // SBC-3: SPACE ALLOCATION FAILED WRITE PROTECT
    }
    // Reads still succeed on a full file system: that is no recovery of the writes.
    expect_good(h.run(read10(0, 1)));
    EXPECT_EQ(h.lu->store_health().errors(StoreError::no_space), 5u);
    EXPECT_EQ(h.lu->store_health().errors(StoreError::io), 0u);
    EXPECT_TRUE(h.lu->store_health().failing());
    EXPECT_EQ(log.count("backing store write failed"), 1u) << log.text();
    EXPECT_NE(log.text().find("target iqn.test LUN 3"), std::string::npos) << log.text();
    EXPECT_NE(log.text().find(std::make_error_code(std::errc::no_space_on_device).message()), std::string::npos);

    // Space comes back: the first write after a quiet second logs the recovery, once.
    *write_error = {};
    std::this_thread::sleep_for(StoreHealth::kRecoveryQuiet + std::chrono::milliseconds(50));
    for (int i = 0; i < 3; ++i) expect_good(h.run(write10(i, 1), pattern(512, 2)));
    EXPECT_FALSE(h.lu->store_health().failing());
    EXPECT_EQ(log.count("recovered"), 1u) << log.text();

    // A new failure is a new change of state.
    *write_error = std::make_error_code(std::errc::io_error);
    expect_sense(h.run(write10(0, 1), pattern(512, 3)), SenseKey::medium_error, 0x0c, 0x00);
    EXPECT_EQ(h.lu->store_health().errors(StoreError::io), 1u);
    EXPECT_EQ(log.count("backing store write failed"), 2u) << log.text();
}

TEST(StoreHealth, ErrorsAreClassifiedForTheMetricLabel) {
    EXPECT_STREQ(store_error_name(classify_store_error(std::make_error_code(std::errc::no_space_on_device))), "ENOSPC");
    EXPECT_STREQ(store_error_name(classify_store_error(std::make_error_code(std::errc::io_error))), "EIO");
    EXPECT_STREQ(store_error_name(classify_store_error(std::make_error_code(std::errc::read_only_file_system))),
                 "EROFS");
    EXPECT_STREQ(store_error_name(classify_store_error(std::make_error_code(std::errc::invalid_argument))), "other");
}

}  // namespace
}  // namespace iscsikit::scsi
