// iSCSI name rules (RFC 3720 §3.2.6, RFC 3722, RFC 3980).
#include "iscsi/name.hpp"

#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace iscsikit::iscsi {
namespace {

TEST(CheckIscsiName, AcceptsTheThreeFormatsOfRfc3720) {
    for (const char* good : {"iqn.2026-11.org.iscsikit:default", "iqn.2001-04.com.example",
                             "iqn.2001-04.com.example:storage:diskarrays-sn-a8675309",
                             "iqn.2001-04.com.example:storage.tape1.sys1.xyz", "eui.02004567A425678D",
                             "eui.02004567a425678d", "naa.52004567BA64678D", "naa.6001405d4f3a2b1c6001405d4f3a2b1c"}) {
        EXPECT_TRUE(check_iscsi_name(good)) << good << ": " << check_iscsi_name(good).error().message;
    }
}

TEST(CheckIscsiName, RejectsMalformedNamesWithAReason) {
    struct Case {
        std::string name;
        const char* reason;
    };
    for (const auto& [name, reason] : std::initializer_list<Case>{
             {"", "empty"},
             {"IQN.2001-04.com.example", "the type prefix is lowercase"},
             {"iqn.2001-04.com.Example", "lowercase"},
             {"iqn.2001-4.com.example", "expected iqn.YYYY-MM"},
             {"iqn.2001-13.com.example", "month 13"},
             {"iqn.2001-04", "expected iqn.YYYY-MM"},
             {"iqn.2001-04.", "domain is missing"},
             {"iqn.2001-04.com..example", "empty label"},
             {"iqn.2001-04.com.example:", "nothing after ':'"},
             {"iqn.2001-04.com.example:a b", "character ' ' is not allowed"},
             {"iqn.2001-04.com.example_x", "character '_' is not allowed"},
             {"eui.0200456", "16 hex digits"},
             {"eui.02004567A425678G", "16 hex digits"},
             {"naa.0123456789abcdef01", "16 or 32 hex digits"},
             {"target0", "start with iqn., eui. or naa."},
             {"iqn.2001-04.com.example:" + std::string(200, 'x'), "longer than 223 bytes"},
         }) {
        auto r = check_iscsi_name(name);
        ASSERT_FALSE(r) << name;
        EXPECT_NE(r.error().message.find(reason), std::string::npos) << name << ": " << r.error().message;
    }
}

TEST(InitiatorPortTransportId, IsTheIscsiFormatWithTheIsidPaddedToFourBytes) {
    // "iqn.a,i,0x" + 12 digits = 22 characters, a NUL, one byte of padding: ADDITIONAL LENGTH 24.
    const std::string port = "iqn.a,i,0x23d000000001";
    std::vector<std::uint8_t> expected{0x45, 0, 0, 24};
    expected.insert(expected.end(), port.begin(), port.end());
    expected.resize(28, 0);
    EXPECT_EQ(initiator_port_transport_id("iqn.a", 0x23d000000001ull), expected);
    // A port string that fills a multiple of 4 (24 characters) still gets its NUL, then 3 bytes
    // of padding.
    const auto id = initiator_port_transport_id("iqn.abc", 0);
    ASSERT_EQ(id.size(), 4u + 28);
    EXPECT_EQ(id[3], 28);
    EXPECT_EQ((std::vector<std::uint8_t>{id.begin() + 27, id.end()}), (std::vector<std::uint8_t>{'0', 0, 0, 0, 0}));
}

}  // namespace
}  // namespace iscsikit::iscsi
