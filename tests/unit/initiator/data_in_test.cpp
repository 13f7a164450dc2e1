// Data-In reassembly (RFC 7143 §11.7 with DataPDUInOrder=Yes, DataSequenceInOrder=Yes).
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "initiator/data_in.hpp"

namespace iscsikit::initiator {
namespace {

std::vector<std::byte> pattern(std::size_t n, int start = 0) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((start + i) & 0xff);
    return v;
}

TEST(DataInAssembler, PlacesInOrderPdusIntoTheBuffer) {
    std::vector<std::byte> buffer(1000);
    DataInAssembler a(buffer);
    const auto all = pattern(1000);
    EXPECT_EQ(a.accept(0, 0, std::span(all).first(400)), DataInError::none);
    EXPECT_EQ(a.accept(1, 400, std::span(all).subspan(400, 400)), DataInError::none);
    EXPECT_EQ(a.accept(2, 800, std::span(all).subspan(800)), DataInError::none);
    EXPECT_EQ(a.received(), 1000u);
    EXPECT_EQ(a.next_data_sn(), 3u);
    EXPECT_EQ(buffer, all);
}

TEST(DataInAssembler, ShortReadLeavesTheRestUntouched) {
    std::vector<std::byte> buffer(100, std::byte{0xee});
    DataInAssembler a(buffer);
    const auto part = pattern(60);
    EXPECT_EQ(a.accept(0, 0, part), DataInError::none);
    EXPECT_EQ(a.received(), 60u);  // the residual (40) is the SCSI Response's to report
    EXPECT_EQ(buffer[60], std::byte{0xee});
}

TEST(DataInAssembler, RejectsDataPastTheBufferWithoutWriting) {
    std::vector<std::byte> buffer(100, std::byte{0});
    DataInAssembler a(buffer);
    const auto big = pattern(101, 1);
    EXPECT_EQ(a.accept(0, 0, big), DataInError::beyond_buffer);
    EXPECT_EQ(a.received(), 0u);
    EXPECT_EQ(buffer[0], std::byte{0});
}

TEST(DataInAssembler, RejectsGapsOverlapsAndDataSnJumps) {
    std::vector<std::byte> buffer(100);
    DataInAssembler a(buffer);
    const auto chunk = pattern(10);
    EXPECT_EQ(a.accept(0, 10, chunk), DataInError::out_of_order);  // a gap at the start
    EXPECT_EQ(a.accept(1, 0, chunk), DataInError::bad_data_sn);
    EXPECT_EQ(a.accept(0, 0, chunk), DataInError::none);
    EXPECT_EQ(a.accept(1, 5, chunk), DataInError::out_of_order);  // overlaps the first PDU
    EXPECT_EQ(a.accept(2, 10, chunk), DataInError::bad_data_sn);  // DataSN 1 missing
    EXPECT_EQ(a.accept(1, 10, chunk), DataInError::none);
}

TEST(DataInAssembler, DataForACommandWithoutReadBufferIsAnError) {
    DataInAssembler a;
    const auto chunk = pattern(4);
    EXPECT_EQ(a.accept(0, 0, chunk), DataInError::not_a_read);
    EXPECT_EQ(a.accept(0, 0, {}), DataInError::none);  // an empty Data-In (status only) is fine
}

TEST(DataInAssembler, RestartForgetsProgressForAReissue) {
    std::vector<std::byte> buffer(8);
    DataInAssembler a(buffer);
    const auto chunk = pattern(4);
    ASSERT_EQ(a.accept(0, 0, chunk), DataInError::none);
    a.restart();
    EXPECT_EQ(a.received(), 0u);
    EXPECT_EQ(a.accept(0, 0, chunk), DataInError::none);
}

}  // namespace
}  // namespace iscsikit::initiator
