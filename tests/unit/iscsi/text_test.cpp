// key=value text (RFC 7143 §6.1): parsing rules and the exact bytes we build.
#include "iscsi/text.hpp"

#include <gtest/gtest.h>

#include "test_bytes.hpp"

namespace iscsikit::iscsi {
namespace {

using testing::bytes_of;

tl::expected<TextPairs, TextError> parse(std::string_view s) { return parse_text(bytes_of(s)); }

TextError error_of(std::string_view s) {
    auto r = parse(s);
    EXPECT_FALSE(r) << s;
    return r ? TextError{} : r.error();
}

using namespace std::string_literals;

TEST(ParseText, PairsInOrder) {
    auto r = parse("InitiatorName=iqn.2024-01.test:host\0SessionType=Normal\0"s);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (TextPairs{{"InitiatorName", "iqn.2024-01.test:host"}, {"SessionType", "Normal"}}));
}

TEST(ParseText, EmptySegmentHasNoPairs) {
    auto r = parse("");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->empty());
}

TEST(ParseText, LastPairWithoutNulIsComplete) {
    auto r = parse("HeaderDigest=None\0DataDigest=None"s);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (TextPairs{{"HeaderDigest", "None"}, {"DataDigest", "None"}}));
}

TEST(ParseText, NulPaddingIsSkipped) {
    auto r = parse("a=1\0\0\0\0b=2\0\0"s);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (TextPairs{{"a", "1"}, {"b", "2"}}));
}

TEST(ParseText, ValueMayBeEmptyOrContainEquals) {
    auto r = parse("X-com.example.k=\0CHAP_C=0x00==\0"s);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, (TextPairs{{"X-com.example.k", ""}, {"CHAP_C", "0x00=="}}));
}

TEST(ParseText, PairWithoutEqualsIsAnError) {
    EXPECT_EQ(error_of("a=1\0junk\0"s), TextError::missing_equals);
    EXPECT_EQ(error_of("junk"), TextError::missing_equals);
}

TEST(ParseText, EmptyKeyIsAnError) { EXPECT_EQ(error_of("=value\0"s), TextError::empty_key); }

TEST(ParseText, KeyLengthLimitIsSixtyThreeBytes) {
    const std::string key63(63, 'K');
    EXPECT_TRUE(parse(key63 + "=1"));
    EXPECT_EQ(error_of(key63 + "K=1"), TextError::key_too_long);
}

TEST(ParseText, ValueLengthLimitIsEightKilobytes) {
    EXPECT_TRUE(parse("CHAP_C=" + std::string(kMaxValueLength, 'a')));
    EXPECT_EQ(error_of("CHAP_C=" + std::string(kMaxValueLength + 1, 'a')), TextError::value_too_long);
}

TEST(ParseText, KeyCharactersAreThoseOfAStandardLabel) {
    EXPECT_TRUE(parse("A.b-c+d@e_f9=1"));
    EXPECT_EQ(error_of("Max Burst=1"), TextError::bad_key_character);
    EXPECT_EQ(error_of("Key\xff=1"), TextError::bad_key_character);
    EXPECT_EQ(error_of("Key#1=1"), TextError::bad_key_character);
    EXPECT_EQ(error_of("Y#Key=1"), TextError::bad_key_character);
}

TEST(ParseText, PublicExtensionKeysMayUseHash) {
    auto r = parse("X#NodeArchitecture=ExampleOS/v1.0\0"s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->front().first, "X#NodeArchitecture");
}

TEST(ParseText, DuplicateKeyIsAnError) {
    EXPECT_EQ(error_of("MaxBurstLength=512\0MaxBurstLength=512\0"s), TextError::duplicate_key);
}

TEST(ParseText, SendTargetsAnswerRepeatsTargetNameAndAddress) {
    auto r = parse(
        "TargetName=iqn.a\0TargetAddress=10.0.0.1:3260,1\0TargetAddress=10.0.0.2:3260,2\0"
        "TargetName=iqn.b\0TargetAddress=10.0.0.1:3260,1\0"s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->size(), 5u);
}

TEST(BuildText, ExactBytes) {
    const auto built = build_text({{"MaxRecvDataSegmentLength", "262144"}, {"HeaderDigest", "None"}});
    EXPECT_EQ(built, bytes_of("MaxRecvDataSegmentLength=262144\0HeaderDigest=None\0"s));
}

TEST(BuildText, AppendKeepsExistingBytes) {
    std::vector<std::byte> out = bytes_of("a=1\0"s);
    append_text(out, "b", "");
    EXPECT_EQ(out, bytes_of("a=1\0b=\0"s));
}

TEST(BuildText, ParseOfBuildRoundTrips) {
    const TextPairs pairs{
        {"InitiatorName", "iqn.1994-05.com.redhat:abc"}, {"AuthMethod", "CHAP,None"}, {"X-com.example.empty", ""}};
    auto r = parse_text(build_text(pairs));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, pairs);
}

TEST(FindValue, ReturnsTheValueOfTheNamedKey) {
    const TextPairs pairs{{"AuthMethod", "CHAP"}, {"X-com.example.empty", ""}};
    EXPECT_EQ(find_value(pairs, "AuthMethod"), "CHAP");
    EXPECT_EQ(find_value(pairs, "X-com.example.empty"), "") << "present but empty is not absent";
    EXPECT_EQ(find_value(pairs, "authmethod"), std::nullopt) << "§6.1: key names are case-sensitive";
    const TextPairs none;
    EXPECT_EQ(find_value(none, "AuthMethod"), std::nullopt);
}

TEST(FindValue, RepeatedKeyGivesTheFirstValue) {
    auto r = parse("TargetName=iqn.a\0TargetAddress=10.0.0.1:3260,1\0TargetAddress=10.0.0.2:3260,2\0"s);
    ASSERT_TRUE(r);
    EXPECT_EQ(find_value(*r, "TargetAddress"), "10.0.0.1:3260,1");
}

TEST(TextErrorName, NamesEveryError) {
    EXPECT_STREQ(text_error_name(TextError::duplicate_key), "key sent twice");
    EXPECT_STREQ(text_error_name(TextError::missing_equals), "key=value pair without '='");
}

}  // namespace
}  // namespace iscsikit::iscsi
