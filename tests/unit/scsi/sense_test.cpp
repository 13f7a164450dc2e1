#include <gtest/gtest.h>

#include "scsi/sense.hpp"

namespace iscsikit::scsi {
namespace {

using Bytes = std::vector<std::uint8_t>;

TEST(Sense, FixedFormatCarriesKeyAscAscq) {
    EXPECT_EQ(Sense::lba_out_of_range().encode_fixed(),
              (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x21, 0x00, 0, 0, 0, 0}));
}

TEST(Sense, FixedFormatFieldPointerInCdbWithBit) {
    // SPC-4 §4.5.2.4.2: SKSV | C/D | BPV | bit 7, field pointer 0x0001.
    EXPECT_EQ(Sense::invalid_field_in_cdb(1, 7).encode_fixed(),
              (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0x00, 0, 0xcf, 0x00, 0x01}));
}

TEST(Sense, FixedFormatFieldPointerInParameterList) {
    EXPECT_EQ(Sense::invalid_field_in_parameter_list(0x0112).encode_fixed(),
              (Bytes{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x26, 0x00, 0, 0x80, 0x01, 0x12}));
}

TEST(Sense, FixedFormatInformationSetsValid) {
    EXPECT_EQ(Sense::miscompare_during_verify(0x1234).encode_fixed(),
              (Bytes{0xf0, 0, 0x0e, 0, 0, 0x12, 0x34, 0x0a, 0, 0, 0, 0, 0x1d, 0x00, 0, 0, 0, 0}));
}

TEST(Sense, FixedFormatInformationTooLargeLeavesValidClear) {
    const auto b = Sense::miscompare_during_verify(0x100000000ull).encode_fixed();
    EXPECT_EQ(b[0], 0x70);
    EXPECT_EQ(b[3] | b[4] | b[5] | b[6], 0);
}

TEST(Sense, DescriptorFormatWithInformationAndFieldPointer) {
    Sense s = Sense::miscompare_during_verify(0x0102030405060708ull);
    s.field_pointer = 2;
    s.field_in_cdb = true;
    // clang-format off
    EXPECT_EQ(s.encode_descriptor(), (Bytes{0x72, 0x0e, 0x1d, 0x00, 0, 0, 0, 20,                 // header
                                            0x00, 0x0a, 0x80, 0x00, 1, 2, 3, 4, 5, 6, 7, 8,  // information
                                            0x02, 0x06, 0, 0, 0xc0, 0x00, 0x02, 0}));        // field pointer
    // clang-format on
}

TEST(Sense, DescriptorFormatNoSense) { EXPECT_EQ(Sense{}.encode_descriptor(), (Bytes{0x72, 0, 0, 0, 0, 0, 0, 0})); }

}  // namespace
}  // namespace iscsikit::scsi
