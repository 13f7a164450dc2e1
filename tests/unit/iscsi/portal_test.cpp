// The one portal syntax of the daemon's configuration and the iscsikit tool (iscsi/portal.hpp):
// the forms each side took before, now taken by both, and the reasons for what is refused.
#include "iscsi/portal.hpp"

#include <string>

#include <gtest/gtest.h>

#include "parse_cases.hpp"

namespace iscsikit::iscsi {
namespace {

Result<Portal> parse(std::string_view text) { return parse_portal(text); }

// One row per text: the portal it is.
void expect_portals(std::initializer_list<std::pair<const char*, Portal>> cases) {
    test::expect_parsed<Portal>(parse, cases);
}

// One row per text: the reason it is refused with (parse_portal adds no context).
void expect_refused(std::initializer_list<std::pair<std::string, std::string>> cases) {
    test::expect_refused(parse, cases);
}

TEST(ParsePortal, HostWithOrWithoutPortDefaultsTo3260) {
    expect_portals({{"10.0.0.1", {"10.0.0.1", 3260}},
                    {"10.0.0.1:3261", {"10.0.0.1", 3261}},
                    {"0.0.0.0:65535", {"0.0.0.0", 65535}},
                    {"storage-1.example.com:860", {"storage-1.example.com", 860}},
                    {"localhost:1", {"localhost", 1}},
                    {"h", {"h", kDefaultPort}}});
}

TEST(ParsePortal, Ipv6InBracketsWithOrWithoutPortAndZone) {
    expect_portals({{"[::1]", {"::1", 3260}},
                    {"[::1]:3262", {"::1", 3262}},
                    {"[2001:db8::10]:861", {"2001:db8::10", 861}},
                    {"[fe80::1%eth0]:3260", {"fe80::1%eth0", 3260}},
                    {"[::ffff:10.0.0.1]", {"::ffff:10.0.0.1", 3260}},
                    {"[::]", {"::", 3260}}});
}

// A bare IPv6 address has no port: every colon belongs to the address.
TEST(ParsePortal, BareIpv6TakesTheDefaultPort) {
    expect_portals({{"fd00::5", {"fd00::5", 3260}},
                    {"fe80::2%eth0", {"fe80::2%eth0", 3260}},
                    {"2001:db8::1:3260", {"2001:db8::1:3260", 3260}}});
}

// RFC 1123 §2.1 labels; '_' is allowed as the tool always allowed it (names in hosts files and
// DNS carry it in practice); a label may start with a digit.
TEST(ParsePortal, HostNamesFollowRfc1123WithUnderscore) {
    expect_portals({{"my_host", {"my_host", 3260}},
                    {"3com.example:3260", {"3com.example", 3260}},
                    {"a-b.c-d", {"a-b.c-d", 3260}},
                    {"1.2.3.x", {"1.2.3.x", 3260}}});
    const std::string label63(63, 'a');
    const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
    EXPECT_TRUE(parse_portal(label63));
    EXPECT_TRUE(parse_portal(name253));
    expect_refused({
        {label63 + "a", "host name '" + label63 + "a' has a label longer than 63 characters"},
        {name253 + "b", "host name '" + name253 + "b' is longer than 253 characters"},
        {"-lead.example.com", "host name '-lead.example.com' has a label that starts or ends with '-'"},
        {"trail-.example.com", "host name 'trail-.example.com' has a label that starts or ends with '-'"},
        {"a..b", "host name 'a..b' has an empty label"},
        {"example.com.", "host name 'example.com.' has an empty label"},
        {"ho st", "host 'ho st' has a character not allowed in a host name"},
        {"h/x", "host 'h/x' has a character not allowed in a host name"},
    });
}

TEST(ParsePortal, DottedDecimalMustBeAnIpv4Address) {
    expect_refused({{"300.1.1.1", "'300.1.1.1' is not an IPv4 address"},
                    {"1.2.3", "'1.2.3' is not an IPv4 address"},
                    {"1.2.3.4.5:3260", "'1.2.3.4.5' is not an IPv4 address"}});
}

TEST(ParsePortal, PortIsANumberFrom1To65535) {
    for (std::string text : {"h:0", "h:65536", "h:99999", "h:123456", "h:abc", "h:", "h:-1", "h:+1", "h: 1",
                             "[::1]:", "[::1]:0", "1.2.3.4:3260x"}) {
        const std::string port = text.substr(text.rfind(':') + 1);
        expect_refused({{text, "port '" + port + "' is not a number from 1 to 65535"}});
    }
}

TEST(ParsePortal, RefusesMalformedAddresses) {
    expect_refused({
        {"", "missing host"},
        {":3260", "missing host"},
        {"[::1", "missing ']' after the IPv6 address"},
        {"[::1]x", "unexpected 'x' after the IPv6 address"},
        {"[::1]3260", "unexpected '3260' after the IPv6 address"},
        {"[]:3260", "'' is not an IPv6 address"},
        {"[127.0.0.1]:3260", "'127.0.0.1' is not an IPv6 address"},
        {"[h]", "'h' is not an IPv6 address"},
        {"[::g]:1", "'::g' is not an IPv6 address"},
        {"[fe80::1%]", "'fe80::1%' is not an IPv6 address"},
        {"fd00::zz", "'fd00::zz' is not an IPv6 address (use [address]:port)"},
        {"::1:3260:zz", "'::1:3260:zz' is not an IPv6 address (use [address]:port)"},
    });
}

// What a service without a default port of its own (the metrics endpoint) asks of the text.
TEST(NamesPort, OnlyHostColonPortAndBracketsColonPortNameIt) {
    for (const char* text : {"10.0.0.1:9460", "localhost:1", "[::1]:9460", "[fe80::1%eth0]:80"})
        EXPECT_TRUE(names_port(text)) << text;
    for (const char* text : {"10.0.0.1", "localhost", "[::1]", "fd00::5", "2001:db8::1:3260"})
        EXPECT_FALSE(names_port(text)) << text << " takes the default port";
}

TEST(PortalToString, BracketsIpv6AndParsesBack) {
    EXPECT_EQ((Portal{"10.0.0.1", 3260}).to_string(), "10.0.0.1:3260");
    EXPECT_EQ((Portal{"::1", 3261}).to_string(), "[::1]:3261");
    EXPECT_EQ((Portal{"fe80::1%eth0", 3260}).to_string(), "[fe80::1%eth0]:3260");
    EXPECT_EQ((Portal{"name", 1}).to_string(), "name:1");
    for (const Portal& portal : {Portal{"10.0.0.1", 3260}, Portal{"fe80::1%eth0", 1}, Portal{"my_host", 65535}})
        EXPECT_EQ(parse_portal(portal.to_string()).value(), portal);
}

TEST(CheckHost, AcceptsWhatAPortalHolds) {
    EXPECT_TRUE(check_host("127.0.0.1"));
    EXPECT_TRUE(check_host("::1"));
    EXPECT_TRUE(check_host("fe80::1%eth0"));
    EXPECT_TRUE(check_host("storage-1.example.com"));
    EXPECT_FALSE(check_host(""));
    EXPECT_FALSE(check_host("[::1]"));
    EXPECT_FALSE(check_host("::g"));
    EXPECT_FALSE(check_host("999.1.1.1"));
    EXPECT_FALSE(check_host("-x"));
}

}  // namespace
}  // namespace iscsikit::iscsi
