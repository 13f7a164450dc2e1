// CHAP responses (RFC 1994 §4.1) for every algorithm against known answers, the target's side of
// the exchange (RFC 7143 §12.1.3), and RFC 7143 §6.1 binary values.
#include "iscsi/chap.hpp"

#include <gtest/gtest.h>

#include "iscsi/params.hpp"

namespace iscsikit::iscsi {
namespace {

using Bytes = std::vector<std::uint8_t>;

// The expected digests were computed independently:
//   python3 -c "import hashlib; print(hashlib.md5(bytes([id]) + secret + challenge).hexdigest())"
TEST(ChapMd5, KnownAnswer) {
    const Bytes challenge = *decode_binary_value("0xf0e1d2c3b4a5968778695a4b3c2d1e0f");
    const Bytes response = chap_response(ChapAlgorithm::md5, 0x2a, "verysecretpw", challenge);
    EXPECT_EQ(encode_hex_value(response), "0xe237ff60e63e67bfedf70eb427eb8601");
}

TEST(ChapMd5, KnownAnswerLongChallengeAndHighIdentifier) {
    Bytes challenge(32);
    for (std::size_t i = 0; i < challenge.size(); ++i) challenge[i] = static_cast<std::uint8_t>(i);
    EXPECT_EQ(encode_hex_value(chap_response(ChapAlgorithm::md5, 0xff, "secret-with-16ch", challenge)),
              "0x69a09caec4be5ea0d848fab088333947");
}

TEST(ChapMd5, IdentifierAloneIsHashed) {
    // MD5 of the single byte 00h.
    EXPECT_EQ(encode_hex_value(chap_response(ChapAlgorithm::md5, 0, "", {})), "0x93b885adfe0da089cdf634904fd59f71");
}

TEST(ChapMd5, EveryInputChangesTheResponse) {
    const Bytes challenge{1, 2, 3, 4, 5, 6, 7, 8};
    const Bytes base = chap_response(ChapAlgorithm::md5, 7, "secret", challenge);
    ASSERT_EQ(base.size(), 16u);
    EXPECT_NE(chap_response(ChapAlgorithm::md5, 8, "secret", challenge), base);
    EXPECT_NE(chap_response(ChapAlgorithm::md5, 7, "Secret", challenge), base);
    EXPECT_NE(chap_response(ChapAlgorithm::md5, 7, "secret", Bytes{1, 2, 3, 4, 5, 6, 7, 9}), base);
    EXPECT_EQ(chap_response(ChapAlgorithm::md5, 7, "secret", challenge), base);
}

// python3 -c "import hashlib; print(hashlib.new(NAME, bytes([0x2a]) + b'verysecretpw' + bytes(range(1,
// 17))).hexdigest())"
TEST(ChapAlgorithms, KnownAnswerForEach) {
    Bytes challenge(16);
    for (std::size_t i = 0; i < challenge.size(); ++i) challenge[i] = static_cast<std::uint8_t>(i + 1);
    EXPECT_EQ(encode_hex_value(chap_response(ChapAlgorithm::sha1, 0x2a, "verysecretpw", challenge)),
              "0x60b4b82336cf0746401f404a817c964266b5647b");
    EXPECT_EQ(encode_hex_value(chap_response(ChapAlgorithm::sha256, 0x2a, "verysecretpw", challenge)),
              "0xd55d481519c61c1d050f42c83595304039479a387d6a8a8640322624203d8961");
    EXPECT_EQ(encode_hex_value(chap_response(ChapAlgorithm::sha3_256, 0x2a, "verysecretpw", challenge)),
              "0xd57eaef2f0871e778ee233a749d478571c4cb895a6877f95bbc78ec22fef3a45");
}

TEST(ChapAlgorithms, TableNamesNumbersAndLengths) {
    ASSERT_EQ(chap_algorithms().size(), 4u);
    EXPECT_EQ(chap_algorithms().front().id, ChapAlgorithm::sha3_256);  // strongest first
    EXPECT_EQ(find_chap_algorithm("5")->id, ChapAlgorithm::md5);
    EXPECT_EQ(find_chap_algorithm("7")->digest_length, 32u);
    EXPECT_EQ(find_chap_algorithm("sha-256")->id, ChapAlgorithm::sha256);
    EXPECT_EQ(find_chap_algorithm("SHA3-256")->id, ChapAlgorithm::sha3_256);
    EXPECT_EQ(find_chap_algorithm("sha1")->digest_length, 20u);
    EXPECT_EQ(find_chap_algorithm("4"), nullptr);
    EXPECT_EQ(find_chap_algorithm("MD4"), nullptr);
    for (const auto& info : chap_algorithms())
        EXPECT_EQ(chap_response(info.id, 1, "secret", Bytes{1}).size(), info.digest_length) << info.name;
}

TEST(ChapRandom, ChallengesDifferEveryTime) {
    EXPECT_EQ(chap_random_bytes(32).size(), 32u);
    EXPECT_NE(chap_random_bytes(16), chap_random_bytes(16));
}

TEST(ChapEqual, ComparesLengthAndEveryByte) {
    EXPECT_TRUE(chap_equal(Bytes{1, 2, 3}, Bytes{1, 2, 3}));
    EXPECT_FALSE(chap_equal(Bytes{1, 2, 3}, Bytes{1, 2, 4}));
    EXPECT_FALSE(chap_equal(Bytes{1, 2, 3}, Bytes{1, 2}));
}

// The target's side, driven as an initiator would drive it.
class ChapTargetTest : public ::testing::Test {
protected:
    const ChapCredentials initiator{"alice", "alice-secret-16ch"};
    const ChapCredentials target{"tgt", "target-secret-16ch"};
    ChapTargetExchange exchange{default_chap_algorithms(), initiator, target};
    TextPairs answers;

    // An absent key reads as text that no parser accepts and that names itself in a failure.
    static std::string_view value(const TextPairs& pairs, std::string_view key) {
        return find_value(pairs, key).value_or("<absent>");
    }
    // Sends CHAP_A and returns the challenge's algorithm, identifier and bytes.
    std::tuple<ChapAlgorithm, std::uint8_t, Bytes> challenge(const std::string& offer) {
        answers.clear();
        EXPECT_EQ(exchange.on_request({{"CHAP_A", offer}}, answers), ChapFailure::none);
        const auto* algorithm = find_chap_algorithm(value(answers, "CHAP_A"));
        EXPECT_NE(algorithm, nullptr);
        auto id = parse_numeric_value(value(answers, "CHAP_I"));
        auto c = decode_binary_value(value(answers, "CHAP_C"));
        EXPECT_TRUE(id && c);
        return {algorithm ? algorithm->id : ChapAlgorithm::md5, static_cast<std::uint8_t>(id.value_or(0)),
                c.value_or(Bytes{})};
    }
    TextPairs response(const ChapCredentials& who, ChapAlgorithm algorithm, std::uint8_t id, const Bytes& c) {
        return {{"CHAP_N", who.user}, {"CHAP_R", encode_hex_value(chap_response(algorithm, id, who.secret, c))}};
    }
};

TEST_F(ChapTargetTest, RightResponseAuthenticatesForEveryAlgorithm) {
    for (const auto& info : chap_algorithms()) {
        ChapTargetExchange one{default_chap_algorithms(), initiator, {}};
        TextPairs out;
        ASSERT_EQ(one.on_request({{"CHAP_A", std::to_string(static_cast<unsigned>(info.id))}}, out), ChapFailure::none);
        const auto c = *decode_binary_value(value(out, "CHAP_C"));
        EXPECT_EQ(c.size(), info.digest_length) << "the challenge is as long as the digest";
        const auto id = static_cast<std::uint8_t>(*parse_numeric_value(value(out, "CHAP_I")));
        out.clear();
        EXPECT_EQ(one.on_request(response(initiator, info.id, id, c), out), ChapFailure::none) << info.name;
        EXPECT_TRUE(one.authenticated());
        EXPECT_TRUE(out.empty()) << "one-way CHAP: nothing to answer";
    }
}

TEST_F(ChapTargetTest, FirstOfTheInitiatorsListThatTheTargetAllowsIsChosen) {
    ChapTargetExchange md5_only{{ChapAlgorithm::md5}, initiator, {}};
    ASSERT_EQ(md5_only.on_request({{"CHAP_A", "7,6,5"}}, answers), ChapFailure::none);
    EXPECT_EQ(value(answers, "CHAP_A"), "5");
    auto [algorithm, id, c] = challenge("99,7,5");
    EXPECT_EQ(algorithm, ChapAlgorithm::sha256) << "unknown values are skipped, the initiator's order decides";
}

TEST_F(ChapTargetTest, NoCommonAlgorithmFails) {
    ChapTargetExchange sha_only{{ChapAlgorithm::sha256}, initiator, {}};
    EXPECT_EQ(sha_only.on_request({{"CHAP_A", "5"}}, answers), ChapFailure::no_common_algorithm);
    EXPECT_EQ(exchange.on_request({{"CHAP_A", "x,,3"}}, answers), ChapFailure::no_common_algorithm);
}

TEST_F(ChapTargetTest, EveryLoginGetsAFreshChallenge) {
    ChapTargetExchange other{default_chap_algorithms(), initiator, {}};
    auto [a1, id1, c1] = challenge("5");
    answers.clear();
    ASSERT_EQ(other.on_request({{"CHAP_A", "5"}}, answers), ChapFailure::none);
    EXPECT_NE(c1, *decode_binary_value(value(answers, "CHAP_C")));
}

TEST_F(ChapTargetTest, StaleResponseToAnotherChallengeIsRefused) {
    // A response recorded from an earlier login answers that login's challenge, not this one's.
    ChapTargetExchange earlier{default_chap_algorithms(), initiator, {}};
    TextPairs out;
    earlier.on_request({{"CHAP_A", "5"}}, out);
    const auto old_c = *decode_binary_value(value(out, "CHAP_C"));
    const auto old_id = static_cast<std::uint8_t>(*parse_numeric_value(value(out, "CHAP_I")));
    challenge("5");
    answers.clear();
    EXPECT_EQ(exchange.on_request(response(initiator, ChapAlgorithm::md5, old_id, old_c), answers),
              ChapFailure::wrong_response);
    EXPECT_FALSE(exchange.authenticated());
}

TEST_F(ChapTargetTest, WrongSecretWrongUserAndMissingKeysFail) {
    auto [algorithm, id, c] = challenge("7");
    answers.clear();
    EXPECT_EQ(exchange.on_request(response({"alice", "not-the-secret!"}, algorithm, id, c), answers),
              ChapFailure::wrong_response);
    ChapTargetExchange second{default_chap_algorithms(), initiator, {}};
    TextPairs out;
    second.on_request({{"CHAP_A", "7"}}, out);
    const auto c2 = *decode_binary_value(value(out, "CHAP_C"));
    const auto id2 = static_cast<std::uint8_t>(*parse_numeric_value(value(out, "CHAP_I")));
    out.clear();
    EXPECT_EQ(second.on_request(response({"mallory", initiator.secret}, algorithm, id2, c2), out),
              ChapFailure::unknown_user);
    ChapTargetExchange third{default_chap_algorithms(), initiator, {}};
    third.on_request({{"CHAP_A", "7"}}, out);
    EXPECT_EQ(third.on_request({{"CHAP_N", "alice"}}, out), ChapFailure::missing_response);
    ChapTargetExchange fourth{default_chap_algorithms(), initiator, {}};
    fourth.on_request({{"CHAP_A", "7"}}, out);
    EXPECT_EQ(fourth.on_request({{"CHAP_N", "alice"}, {"CHAP_R", "0x0102"}}, out), ChapFailure::malformed_response);
}

TEST_F(ChapTargetTest, KeysOutOfTurnFail) {
    EXPECT_EQ(exchange.on_request({{"CHAP_N", "alice"}, {"CHAP_R", "0x00"}}, answers), ChapFailure::unexpected_key);
    ChapTargetExchange twice{default_chap_algorithms(), initiator, {}};
    twice.on_request({{"CHAP_A", "5"}}, answers);
    EXPECT_EQ(twice.on_request({{"CHAP_A", "5"}}, answers), ChapFailure::unexpected_key);
}

TEST_F(ChapTargetTest, MutualAnswersTheInitiatorsChallenge) {
    auto [algorithm, id, c] = challenge("7");
    auto keys = response(initiator, algorithm, id, c);
    const Bytes mine = chap_random_bytes(32);
    keys.emplace_back("CHAP_I", "77");
    keys.emplace_back("CHAP_C", encode_hex_value(mine));
    answers.clear();
    ASSERT_EQ(exchange.on_request(keys, answers), ChapFailure::none);
    EXPECT_TRUE(exchange.mutual());
    EXPECT_EQ(value(answers, "CHAP_N"), "tgt");
    EXPECT_EQ(value(answers, "CHAP_R"), encode_hex_value(chap_response(algorithm, 77, target.secret, mine)));
}

TEST_F(ChapTargetTest, ReflectedChallengeIsRefused) {
    auto [algorithm, id, c] = challenge("7");
    auto keys = response(initiator, algorithm, id, c);
    keys.emplace_back("CHAP_I", std::to_string(id));
    keys.emplace_back("CHAP_C", encode_hex_value(c));  // our own challenge, sent back to us
    answers.clear();
    EXPECT_EQ(exchange.on_request(keys, answers), ChapFailure::reflection);
    EXPECT_TRUE(answers.empty()) << "no response to our own challenge leaves the target";
}

TEST_F(ChapTargetTest, MutualWithoutATargetSecretFails) {
    ChapTargetExchange one_way{default_chap_algorithms(), initiator, {}};
    TextPairs out;
    one_way.on_request({{"CHAP_A", "5"}}, out);
    const auto c = *decode_binary_value(value(out, "CHAP_C"));
    const auto id = static_cast<std::uint8_t>(*parse_numeric_value(value(out, "CHAP_I")));
    auto keys = response(initiator, ChapAlgorithm::md5, id, c);
    keys.emplace_back("CHAP_I", "1");
    keys.emplace_back("CHAP_C", "0x0102030405060708090a0b0c0d0e0f10");
    out.clear();
    EXPECT_EQ(one_way.on_request(keys, out), ChapFailure::mutual_not_configured);
    ChapTargetExchange half{default_chap_algorithms(), initiator, target};
    half.on_request({{"CHAP_A", "5"}}, out);
    const auto c2 = *decode_binary_value(value(out, "CHAP_C"));
    const auto id2 = static_cast<std::uint8_t>(*parse_numeric_value(value(out, "CHAP_I")));
    auto keys2 = response(initiator, ChapAlgorithm::md5, id2, c2);
    keys2.emplace_back("CHAP_I", "1");  // no CHAP_C
    EXPECT_EQ(half.on_request(keys2, out), ChapFailure::malformed_challenge);
}

TEST(BinaryValue, Hex) {
    EXPECT_EQ(decode_binary_value("0x00ff10Ab"), (Bytes{0x00, 0xff, 0x10, 0xab}));
    EXPECT_EQ(decode_binary_value("0XDEADBEEF"), (Bytes{0xde, 0xad, 0xbe, 0xef}));
    EXPECT_EQ(decode_binary_value("0x01"), (Bytes{0x01}));
}

TEST(BinaryValue, Base64) {
    EXPECT_EQ(decode_binary_value("0b8OHSw7Sllod4aVpLPC0eDw=="),
              decode_binary_value("0xf0e1d2c3b4a5968778695a4b3c2d1e0f"));
    EXPECT_EQ(decode_binary_value("0BAAEC"), (Bytes{0x00, 0x01, 0x02}));
    EXPECT_EQ(decode_binary_value("0bAAE="), (Bytes{0x00, 0x01}));
    EXPECT_EQ(decode_binary_value("0bAA=="), (Bytes{0x00}));
    EXPECT_EQ(decode_binary_value("0b+/+/"), (Bytes{0xfb, 0xff, 0xbf}));
}

TEST(BinaryValue, MalformedIsRefused) {
    for (std::string_view text : {"",       "0", "0x", "0X", "0b", "0B", "x12", "12", "0y12", " 0x12", "0x12 ",
                                  "0x123",      // odd digit count
                                  "0x1g",       // not a hex digit
                                  "0x-1",       //
                                  "0bAAE",      // not a multiple of four
                                  "0bA===",     // too much padding
                                  "0bAA=A",     // padding in the middle
                                  "0b====",     //
                                  "0bAB==",     // nonzero pad bits
                                  "0bAA*A"}) {  // not a base64 digit
        EXPECT_FALSE(decode_binary_value(text)) << "'" << text << "'";
    }
}

TEST(BinaryValue, HexEncodingIsLowercaseAndRoundTrips) {
    const Bytes bytes{0x00, 0x0a, 0xa0, 0xff, 0x5c};
    EXPECT_EQ(encode_hex_value(bytes), "0x000aa0ff5c");
    EXPECT_EQ(decode_binary_value(encode_hex_value(bytes)), bytes);
    EXPECT_EQ(encode_hex_value({}), "0x");
}

}  // namespace
}  // namespace iscsikit::iscsi
