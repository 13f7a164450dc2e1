// iSCSI URLs as libiscsi writes them, portals, and the one-line messages for bad ones.
#include "initiator/url.hpp"
#include "initiator/session.hpp"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace iscsikit::initiator {
namespace {

Url parse_ok(std::string_view text) {
    auto url = parse_url(text);
    EXPECT_TRUE(url) << text << ": " << (url ? "" : url.error().message);
    return url ? *url : Url{};
}

// The message of a rejected URL; it must be invalid_argument and one line.
std::string parse_error(std::string_view text) {
    auto url = parse_url(text);
    EXPECT_FALSE(url) << text << " parsed";
    if (url) return {};
    EXPECT_EQ(url.error().kind, ErrorKind::invalid_argument);
    EXPECT_EQ(url.error().message.find('\n'), std::string::npos);
    return url.error().message;
}

std::string portal_error(std::string_view text) {
    auto portal = parse_portal(text);
    EXPECT_FALSE(portal) << text << " parsed";
    if (portal) return {};
    EXPECT_EQ(portal.error().kind, ErrorKind::invalid_argument);
    return portal.error().message;
}

// Whether an error message says `fragment`.
::testing::AssertionResult says(const std::string& message, std::string_view fragment) {
    if (message.find(fragment) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "\"" << message << "\" does not say \"" << fragment << "\"";
}

TEST(ParseUrl, Ipv4WithPortTargetAndLun) {
    const Url url = parse_ok("iscsi://10.0.0.5:3261/iqn.2026-11.org.iscsikit:t1/3");
    EXPECT_EQ(url.portal, (Portal{"10.0.0.5", 3261}));
    EXPECT_EQ(url.target, "iqn.2026-11.org.iscsikit:t1");
    EXPECT_EQ(url.lun, std::optional<std::uint64_t>(3));
    EXPECT_TRUE(url.user.empty());
    EXPECT_TRUE(url.password.empty());
}

TEST(ParseUrl, PortDefaultsTo3260) {
    const Url url = parse_ok("iscsi://127.0.0.1/iqn.x/0");
    EXPECT_EQ(url.portal, (Portal{"127.0.0.1", 3260}));
    EXPECT_EQ(url.lun, std::optional<std::uint64_t>(0));
}

TEST(ParseUrl, HostNames) {
    EXPECT_EQ(parse_ok("iscsi://storage-1.example.com/iqn.x/1").portal, (Portal{"storage-1.example.com", 3260}));
    EXPECT_EQ(parse_ok("iscsi://localhost:900/iqn.x/1").portal, (Portal{"localhost", 900}));
    EXPECT_EQ(parse_ok("iscsi://my_host/iqn.x/1").portal.host, "my_host");
}

TEST(ParseUrl, Ipv6InBrackets) {
    Url url = parse_ok("iscsi://[::1]:3260/iqn.x/0");
    EXPECT_EQ(url.portal, (Portal{"::1", 3260}));
    url = parse_ok("iscsi://[fe80::1:2%eth0]/iqn.x/7");
    EXPECT_EQ(url.portal, (Portal{"fe80::1:2%eth0", 3260}));
    EXPECT_EQ(url.lun, std::optional<std::uint64_t>(7));
    EXPECT_EQ(parse_ok("iscsi://[2001:db8::10]:861/iqn.x/0").portal, (Portal{"2001:db8::10", 861}));
    EXPECT_EQ(parse_ok("iscsi://[::ffff:10.0.0.1]/iqn.x/0").portal.host, "::ffff:10.0.0.1");
}

TEST(ParseUrl, SchemeIsCaseInsensitive) { EXPECT_EQ(parse_ok("ISCSI://h/iqn.x/2").portal.host, "h"); }

TEST(ParseUrl, TargetWithoutLun) {
    const Url url = parse_ok("iscsi://h/iqn.2026-11.org.iscsikit:t1");
    EXPECT_EQ(url.target, "iqn.2026-11.org.iscsikit:t1");
    EXPECT_FALSE(url.lun);
}

TEST(ParseUrl, DiscoveryUrls) {
    for (std::string_view text : {"iscsi://h", "iscsi://h/", "iscsi://h:3260", "iscsi://h:3260/"}) {
        const Url url = parse_ok(text);
        EXPECT_EQ(url.portal, (Portal{"h", 3260})) << text;
        EXPECT_TRUE(url.target.empty()) << text;
        EXPECT_FALSE(url.lun) << text;
    }
    EXPECT_EQ(parse_ok("iscsi://[::1]").portal, (Portal{"::1", 3260}));
    EXPECT_EQ(parse_ok("iscsi://[::1]:5000/").portal, (Portal{"::1", 5000}));
}

TEST(ParseUrl, LunRange) {
    EXPECT_EQ(parse_ok("iscsi://h/iqn.x/255").lun, std::optional<std::uint64_t>(255));
    EXPECT_EQ(parse_ok("iscsi://h/iqn.x/256").lun, std::optional<std::uint64_t>(256));
    EXPECT_EQ(parse_ok("iscsi://h/iqn.x/16383").lun, std::optional<std::uint64_t>(16383));
    EXPECT_EQ(parse_ok("iscsi://h/iqn.x/007").lun, std::optional<std::uint64_t>(7));
    EXPECT_EQ(parse_error("iscsi://h/iqn.x/16384"),
              "invalid iSCSI URL 'iscsi://h/iqn.x/16384': LUN 16384 out of range (0 to 16383)");
    EXPECT_TRUE(says(parse_error("iscsi://h/iqn.x/99999999999999999999999"), "out of range"));
}

TEST(ParseUrl, LunMustBeDecimal) {
    EXPECT_EQ(parse_error("iscsi://h/iqn.x/abc"),
              "invalid iSCSI URL 'iscsi://h/iqn.x/abc': LUN 'abc' is not a decimal number");
    EXPECT_TRUE(says(parse_error("iscsi://h/iqn.x/0x1"), "not a decimal number"));
    EXPECT_TRUE(says(parse_error("iscsi://h/iqn.x/-1"), "not a decimal number"));
    EXPECT_TRUE(says(parse_error("iscsi://h/iqn.x/+1"), "not a decimal number"));
    EXPECT_TRUE(says(parse_error("iscsi://h/iqn.x/1 "), "not a decimal number"));
    EXPECT_EQ(parse_error("iscsi://h/iqn.x/"), "invalid iSCSI URL 'iscsi://h/iqn.x/': missing LUN after 'iqn.x/'");
}

TEST(ParseUrl, TrailingGarbage) {
    EXPECT_EQ(parse_error("iscsi://h/iqn.x/0/extra"),
              "invalid iSCSI URL 'iscsi://h/iqn.x/0/extra': unexpected '/extra' after the LUN");
    EXPECT_TRUE(says(parse_error("iscsi://h/iqn.x/0/"), "after the LUN"));
    EXPECT_TRUE(says(parse_error("iscsi://h/iqn.x/0?header_digest=crc32c"), "not a decimal number"));
    EXPECT_TRUE(says(parse_error("iscsi://h:3260x/iqn.x/0"), "port '3260x'"));
    EXPECT_TRUE(says(parse_error("iscsi://[::1]x/iqn.x/0"), "unexpected 'x' after the IPv6 address"));
}

TEST(ParseUrl, BadPorts) {
    EXPECT_EQ(parse_error("iscsi://h:0/iqn.x/0"),
              "invalid iSCSI URL 'iscsi://h:0/iqn.x/0': port '0' is not a number from 1 to 65535");
    EXPECT_TRUE(says(parse_error("iscsi://h:65536/iqn.x/0"), "port '65536'"));
    EXPECT_TRUE(says(parse_error("iscsi://h:abc/iqn.x/0"), "port 'abc'"));
    EXPECT_TRUE(says(parse_error("iscsi://h:/iqn.x/0"), "port ''"));
    EXPECT_TRUE(says(parse_error("iscsi://[::1]:/iqn.x/0"), "port ''"));
    EXPECT_TRUE(says(parse_error("iscsi://h:-1/iqn.x/0"), "port '-1'"));
    EXPECT_EQ(parse_ok("iscsi://h:65535/iqn.x/0").portal.port, 65535);
    EXPECT_EQ(parse_ok("iscsi://h:1/iqn.x/0").portal.port, 1);
}

TEST(ParseUrl, MissingScheme) {
    EXPECT_EQ(parse_error("10.0.0.1/iqn.x/0"),
              "invalid iSCSI URL '10.0.0.1/iqn.x/0': expected it to start with 'iscsi://'");
    EXPECT_TRUE(says(parse_error("http://h/iqn.x/0"), "'iscsi://'"));
    EXPECT_TRUE(says(parse_error("iscsi:/h/iqn.x/0"), "'iscsi://'"));
    EXPECT_TRUE(says(parse_error(""), "'iscsi://'"));
}

TEST(ParseUrl, EmptyOrBadHost) {
    EXPECT_EQ(parse_error("iscsi:///iqn.x/0"), "invalid iSCSI URL 'iscsi:///iqn.x/0': missing host");
    EXPECT_TRUE(says(parse_error("iscsi://"), "missing host"));
    EXPECT_TRUE(says(parse_error("iscsi://:3260/iqn.x/0"), "missing host"));
    EXPECT_TRUE(says(parse_error("iscsi://user@/iqn.x/0"), "missing host"));
    EXPECT_TRUE(says(parse_error("iscsi://[]/iqn.x/0"), "not an IPv6 address"));
    EXPECT_TRUE(says(parse_error("iscsi://[::1/iqn.x/0"), "missing ']'"));
    EXPECT_TRUE(says(parse_error("iscsi://[10.0.0.1]/iqn.x/0"), "not an IPv6 address"));
    EXPECT_TRUE(says(parse_error("iscsi://[fe80::1%]/iqn.x/0"), "not an IPv6 address"));
    EXPECT_TRUE(says(parse_error("iscsi://ho st/iqn.x/0"), "not allowed in a host name"));
    EXPECT_TRUE(says(parse_error("iscsi://999.1.2.3/iqn.x/0"), "'999.1.2.3' is not an IPv4 address"));
    // A bare IPv6 address cannot carry a port, so an unbracketed one in a URL is read as one.
    EXPECT_TRUE(says(parse_error("iscsi://::1:3260:zz/iqn.x/0"), "use [address]:port"));
}

TEST(ParseUrl, BadTargetNames) {
    EXPECT_EQ(parse_error("iscsi://h//0"), "invalid iSCSI URL 'iscsi://h//0': missing target name");
    EXPECT_TRUE(says(parse_error("iscsi://h/iqn x/0"), "not allowed in iSCSI names (' ')"));
    EXPECT_TRUE(says(parse_error("iscsi://h/iqn.x?y/0"), "('?')"));
}

TEST(ParseUrl, Credentials) {
    Url url = parse_ok("iscsi://alice%s3cret@10.0.0.5/iqn.x/1");
    EXPECT_EQ(url.user, "alice");
    EXPECT_EQ(url.password, "s3cret");
    EXPECT_EQ(url.portal, (Portal{"10.0.0.5", 3260}));
    url = parse_ok("iscsi://bob@[::1]:3261/iqn.x/0");
    EXPECT_EQ(url.user, "bob");
    EXPECT_TRUE(url.password.empty());
    EXPECT_EQ(url.portal, (Portal{"::1", 3261}));
    // The first '%' separates: a password may hold '%', '@' and '/'.
    url = parse_ok("iscsi://carol%p%w@d/x@h/iqn.x/2");
    EXPECT_EQ(url.user, "carol");
    EXPECT_EQ(url.password, "p%w@d/x");
    EXPECT_EQ(url.portal.host, "h");
    EXPECT_EQ(url.lun, std::optional<std::uint64_t>(2));
    // Credentials on a discovery URL.
    url = parse_ok("iscsi://dave%pw@h:3270");
    EXPECT_EQ(url.user, "dave");
    EXPECT_EQ(url.password, "pw");
    EXPECT_EQ(url.portal.port, 3270);
}

TEST(ParseUrl, BadCredentials) {
    EXPECT_EQ(parse_error("iscsi://%pw@h/iqn.x/0"),
              "invalid iSCSI URL 'iscsi://%***@h/iqn.x/0': empty user name before '@'");
    EXPECT_TRUE(says(parse_error("iscsi://@h/iqn.x/0"), "empty user name"));
    EXPECT_EQ(parse_error("iscsi://u%@h/iqn.x/0"),
              "invalid iSCSI URL 'iscsi://u%***@h/iqn.x/0': empty password after '%'");
}

TEST(ParseUrl, MessagesNeverShowThePassword) {
    for (std::string_view text : {"iscsi://u%hunter2@h:0/iqn.x/0", "iscsi://u%hunter2@h/iqn.x/99999",
                                  "iscsi://u%hunter2@/iqn.x/0", "iscsi://u%hunter2@h/iqn.x/0/x"}) {
        const std::string message = parse_error(text);
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
        EXPECT_TRUE(says(message, "u%***@"));
    }
}

TEST(ParseUrl, MessagesAreOneLine) {
    const std::string message = parse_error("iscsi://h/iqn.x/0\nsecond line");
    EXPECT_TRUE(says(message, "0?second line"));
}

TEST(UrlToString, CanonicalFormWithoutPassword) {
    EXPECT_EQ(parse_ok("iscsi://alice%s3cret@10.0.0.5/iqn.x/1").to_string(), "iscsi://alice@10.0.0.5:3260/iqn.x/1");
    EXPECT_EQ(parse_ok("ISCSI://[::1]/iqn.x/0").to_string(), "iscsi://[::1]:3260/iqn.x/0");
    EXPECT_EQ(parse_ok("iscsi://h:3270").to_string(), "iscsi://h:3270/");
    EXPECT_EQ(parse_ok("iscsi://h/iqn.x").to_string(), "iscsi://h:3260/iqn.x");
    EXPECT_EQ(parse_ok("iscsi://h/iqn.x/016383").to_string(), "iscsi://h:3260/iqn.x/16383");
}

TEST(UrlToString, ParsesBackToTheSameUrl) {
    for (std::string_view text :
         {"iscsi://u%p@[2001:db8::1]:3261/iqn.2026-11.org.iscsikit:t1/300", "iscsi://10.1.2.3/iqn.x", "iscsi://h"}) {
        const Url first = parse_ok(text);
        const Url again = parse_ok(first.to_string());
        EXPECT_EQ(again.portal, first.portal);
        EXPECT_EQ(again.target, first.target);
        EXPECT_EQ(again.lun, first.lun);
        EXPECT_EQ(again.user, first.user);
        EXPECT_TRUE(again.password.empty());
    }
}

TEST(ParsePortal, AllForms) {
    EXPECT_EQ(parse_portal("10.0.0.1").value(), (Portal{"10.0.0.1", 3260}));
    EXPECT_EQ(parse_portal("10.0.0.1:3261").value(), (Portal{"10.0.0.1", 3261}));
    EXPECT_EQ(parse_portal("target.example").value(), (Portal{"target.example", 3260}));
    EXPECT_EQ(parse_portal("target.example:861").value(), (Portal{"target.example", 861}));
    EXPECT_EQ(parse_portal("[::1]").value(), (Portal{"::1", 3260}));
    EXPECT_EQ(parse_portal("[::1]:3262").value(), (Portal{"::1", 3262}));
    EXPECT_EQ(parse_portal("fd00::5").value(), (Portal{"fd00::5", 3260}));
    EXPECT_EQ(parse_portal("2001:db8::1:3260").value(), (Portal{"2001:db8::1:3260", 3260}));  // bare: all address
}

TEST(ParsePortal, Rejects) {
    EXPECT_EQ(portal_error("h:0"), "invalid portal 'h:0': port '0' is not a number from 1 to 65535");
    EXPECT_TRUE(says(portal_error("h:65536"), "port '65536'"));
    EXPECT_TRUE(says(portal_error("h:abc"), "port 'abc'"));
    EXPECT_TRUE(says(portal_error("h:"), "port ''"));
    EXPECT_EQ(portal_error(""), "invalid portal '': missing host");
    EXPECT_TRUE(says(portal_error(":3260"), "missing host"));
    EXPECT_TRUE(says(portal_error("[::1"), "missing ']'"));
    EXPECT_TRUE(says(portal_error("[::1]3260"), "unexpected '3260'"));
    EXPECT_TRUE(says(portal_error("[h]"), "not an IPv6 address"));
    EXPECT_TRUE(says(portal_error("fd00::zz"), "not an IPv6 address"));
    EXPECT_TRUE(says(portal_error("h/x"), "not allowed in a host name"));
}

TEST(PortalToString, BracketsIpv6) {
    EXPECT_EQ((Portal{"10.0.0.1", 3260}).to_string(), "10.0.0.1:3260");
    EXPECT_EQ((Portal{"::1", 3261}).to_string(), "[::1]:3261");
    EXPECT_EQ((Portal{"name", 1}).to_string(), "name:1");
}

TEST(ErrorKindName, NamesEveryKind) {
    EXPECT_STREQ(error_kind_name(ErrorKind::invalid_argument), "invalid_argument");
    EXPECT_STREQ(error_kind_name(ErrorKind::unreachable), "unreachable");
    EXPECT_STREQ(error_kind_name(ErrorKind::target_not_found), "target_not_found");
    EXPECT_STREQ(error_kind_name(ErrorKind::auth_failed), "auth_failed");
    EXPECT_STREQ(error_kind_name(ErrorKind::login_failed), "login_failed");
    EXPECT_STREQ(error_kind_name(ErrorKind::no_such_lun), "no_such_lun");
    EXPECT_STREQ(error_kind_name(ErrorKind::scsi_error), "scsi_error");
    EXPECT_STREQ(error_kind_name(ErrorKind::timeout), "timeout");
    EXPECT_STREQ(error_kind_name(ErrorKind::connection_lost), "connection_lost");
    EXPECT_STREQ(error_kind_name(ErrorKind::protocol_error), "protocol_error");
    EXPECT_STREQ(error_kind_name(ErrorKind::closed), "closed");
    EXPECT_STREQ(error_kind_name(static_cast<ErrorKind>(200)), "unknown");
}

// open-iscsi's /etc/iscsi/initiatorname.iscsi, as Debian's package writes it.
TEST(InitiatorNameFile, TheInitiatorNameLineGivesTheDefaultName) {
    EXPECT_EQ(initiator_name_from_file("## DO NOT EDIT OR REMOVE THIS FILE!\n"
                                       "## If you remove this file, the iSCSI daemon will not start.\n"
                                       "InitiatorName=iqn.1993-08.org.debian:01:5a0d2f1c3b4e\n"),
              "iqn.1993-08.org.debian:01:5a0d2f1c3b4e");
    EXPECT_EQ(initiator_name_from_file("  InitiatorName = iqn.2004-10.com.ubuntu:01:abc \r\n"),
              "iqn.2004-10.com.ubuntu:01:abc");
    EXPECT_EQ(initiator_name_from_file("#InitiatorName=iqn.commented.out:x\nInitiatorAlias=host\n"), "");
    EXPECT_EQ(initiator_name_from_file(""), "");
    EXPECT_EQ(initiator_name_from_file("InitiatorName="), "");
}

TEST(InitiatorNameFile, DefaultNameIsTheFilesOrOursFromTheHostName) {
    std::ifstream file{kOpenIscsiNameFile};
    std::string expected;
    if (file) {
        std::ostringstream text;
        text << file.rdbuf();
        expected = initiator_name_from_file(text.str());
    }
    const std::string name = default_initiator_name();
    if (!expected.empty())
        EXPECT_EQ(name, expected);
    else
        EXPECT_EQ(name.rfind("iqn.2026-11.org.iscsikit:", 0), 0u) << name;
}

}  // namespace
}  // namespace iscsikit::initiator
