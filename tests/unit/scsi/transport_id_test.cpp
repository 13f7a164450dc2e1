// iSCSI TransportIDs (SPC-4 §7.6.4.6): what parse_transport_id reads and refuses.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scsi/transport_id.hpp"

namespace iscsikit::scsi {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes id(std::uint8_t byte0, const std::string& text, std::size_t length) {
    Bytes b(4 + length, 0);
    b[0] = byte0;
    b[2] = std::uint8_t(length >> 8);
    b[3] = std::uint8_t(length);
    std::copy(text.begin(), text.end(), b.begin() + 4);
    return b;
}

TEST(TransportId, FormatOneNamesOnePortWithItsIsid) {
    const Bytes b = id(0x45, "iqn.2026-01.org.example:a,i,0x23d000000001", 44);
    const ParsedTransportId p = parse_transport_id(b);
    ASSERT_TRUE(p.port);
    EXPECT_EQ(p.length, 48u);
    EXPECT_EQ(p.port->name, "iqn.2026-01.org.example:a");
    EXPECT_EQ(p.port->isid, std::optional<std::uint64_t>(0x23d000000001ull));
}

TEST(TransportId, FormatZeroNamesEveryPortOfTheInitiatorAndNamesAreCaseFolded) {
    const ParsedTransportId p = parse_transport_id(id(0x05, "IQN.2026-01.ORG.EXAMPLE:A", 28));
    ASSERT_TRUE(p.port);
    EXPECT_EQ(p.port->name, "iqn.2026-01.org.example:a");
    EXPECT_FALSE(p.port->isid);
    EXPECT_TRUE(names_port(*p.port, {"iqn.2026-01.org.example:a", 7}));
    EXPECT_FALSE(names_port({"iqn.2026-01.org.example:a", 6}, {"iqn.2026-01.org.example:a", 7}));
}

TEST(TransportId, TrailingBytesAfterTheTransportIdAreNotItsOwn) {
    Bytes b = id(0x05, "iqn.x", 8);
    b.resize(b.size() + 12, 0xee);
    EXPECT_EQ(parse_transport_id(b).length, 12u);
}

TEST(TransportId, RefusesWhatItCannotReadAndSaysWhere) {
    const auto where = [](const Bytes& b) {
        const ParsedTransportId p = parse_transport_id(b);
        EXPECT_FALSE(p.port);
        return std::pair<int, int>(p.bad_byte, p.bad_bit ? int{*p.bad_bit} : -1);
    };
    EXPECT_EQ(where({0x05, 0}), std::make_pair(2, -1));                                 // shorter than its header
    EXPECT_EQ(where(id(0x01, "iqn.x", 8)), std::make_pair(0, 3));                       // SAS, not iSCSI
    EXPECT_EQ(where(id(0x85, "iqn.x", 8)), std::make_pair(0, 7));                       // FORMAT CODE 10b
    EXPECT_EQ(where(id(0x05, "iqn.x", 7)), std::make_pair(2, -1));                      // not a multiple of 4
    EXPECT_EQ(where(Bytes{0x05, 0, 0, 16, 'i', 'q', 'n', 0}), std::make_pair(2, -1));   // past the end
    EXPECT_EQ(where(id(0x05, "iqn.abcd", 8)), std::make_pair(4, -1));                   // no NUL
    EXPECT_EQ(where(id(0x05, "", 8)), std::make_pair(4, -1));                           // no name
    EXPECT_EQ(where(id(0x05, "iqn.x,i,0x1", 12)), std::make_pair(4, -1));               // 00b with a port name
    EXPECT_EQ(where(id(0x45, "iqn.x", 8)), std::make_pair(4, -1));                      // 01b without one
    EXPECT_EQ(where(id(0x45, "iqn.x,i,0xzz", 16)), std::make_pair(14, -1));             // ISID not hex
    EXPECT_EQ(where(id(0x45, "iqn.x,i,0x1234567890abc", 24)), std::make_pair(14, -1));  // longer than 6 bytes
}

TEST(TransportId, PortOfAnEmptyTransportIdIsNone) { EXPECT_FALSE(port_of({})); }

}  // namespace
}  // namespace iscsikit::scsi
