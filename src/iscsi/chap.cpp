// CHAP (RFC 1994, RFC 7143 §12.1.3): the algorithm table, the binary-value encodings its keys use
// (RFC 7143 §6.1), and the target's side of the exchange.
#include "iscsi/chap.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "core/ascii.hpp"
#include "iscsi/params.hpp"

namespace iscsikit::iscsi {
namespace {

// Rules as data: one row per algorithm, strongest first (our preference on both sides).
struct AlgorithmRow {
    ChapAlgorithmInfo info;
    const EVP_MD* (*digest)();
};
const std::array<AlgorithmRow, 4> kAlgorithms{{
    {{ChapAlgorithm::sha3_256, "SHA3-256", 32}, EVP_sha3_256},
    {{ChapAlgorithm::sha256, "SHA256", 32}, EVP_sha256},
    {{ChapAlgorithm::sha1, "SHA1", 20}, EVP_sha1},
    {{ChapAlgorithm::md5, "MD5", 16}, EVP_md5},
}};
const std::array<ChapAlgorithmInfo, 4> kInfos{kAlgorithms[0].info, kAlgorithms[1].info, kAlgorithms[2].info,
                                              kAlgorithms[3].info};

const AlgorithmRow* find_row(ChapAlgorithm id) {
    for (const auto& row : kAlgorithms)
        if (row.info.id == id) return &row;
    return nullptr;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int base64_digit(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

std::optional<std::vector<std::uint8_t>> decode_hex(std::string_view digits) {
    // §6.1 hex-constant; an odd digit count is refused rather than guessed at.
    if (digits.empty() || digits.size() % 2 != 0) return std::nullopt;
    std::vector<std::uint8_t> out;
    out.reserve(digits.size() / 2);
    for (std::size_t i = 0; i < digits.size(); i += 2) {
        const int high = hex_digit(digits[i]);
        const int low = hex_digit(digits[i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(high << 4 | low));
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text) {
    // §6.1 base64-constant (RFC 4648 §4): groups of four, '=' padding only at the very end.
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    std::size_t padding = 0;
    while (padding < 2 && text[text.size() - 1 - padding] == '=') ++padding;
    const std::string_view digits = text.substr(0, text.size() - padding);
    std::vector<std::uint8_t> out;
    out.reserve(digits.size() * 3 / 4);
    std::uint32_t bits = 0;
    int count = 0;
    for (char c : digits) {
        const int v = base64_digit(c);
        if (v < 0) return std::nullopt;
        bits = (bits << 6) | static_cast<std::uint32_t>(v);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<std::uint8_t>(bits >> count));
        }
    }
    // RFC 4648 §3.5: the pad bits of the last group must be zero.
    if ((bits & ((1u << count) - 1)) != 0) return std::nullopt;
    return out;
}

}  // namespace

std::optional<std::vector<std::uint8_t>> decode_binary_value(std::string_view text) {
    if (text.size() < 2 || text[0] != '0') return std::nullopt;
    if (text[1] == 'x' || text[1] == 'X') return decode_hex(text.substr(2));
    if (text[1] == 'b' || text[1] == 'B') return decode_base64(text.substr(2));
    return std::nullopt;
}

std::string encode_hex_value(std::span<const std::uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out = "0x";
    out.reserve(2 + bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0f];
    }
    return out;
}

std::span<const ChapAlgorithmInfo> chap_algorithms() { return kInfos; }

const ChapAlgorithmInfo* find_chap_algorithm(ChapAlgorithm id) {
    const auto* row = find_row(id);
    return row ? &row->info : nullptr;
}

const ChapAlgorithmInfo* find_chap_algorithm(std::string_view text) {
    if (auto number = parse_decimal(text, 255)) return find_chap_algorithm(static_cast<ChapAlgorithm>(*number));
    std::string name;
    for (char c : text)
        if (c != '-' && c != '_') name += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    for (const auto& info : kInfos) {
        std::string row_name;
        for (char c : info.name)
            if (c != '-') row_name += c;
        if (name == row_name) return &info;
    }
    return nullptr;
}

std::vector<ChapAlgorithm> default_chap_algorithms() {
    std::vector<ChapAlgorithm> out;
    out.reserve(kInfos.size());
    for (const auto& info : kInfos) out.push_back(info.id);
    return out;
}

std::vector<std::uint8_t> chap_response(ChapAlgorithm algorithm, std::uint8_t identifier, std::string_view secret,
                                        std::span<const std::uint8_t> challenge) {
    const auto* row = find_row(algorithm);
    if (row == nullptr) return {};
    // RFC 1994 §4.1: Response = H(Identifier || secret || Challenge).
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, row->digest(), nullptr) == 1 &&
                    EVP_DigestUpdate(ctx, &identifier, 1) == 1 &&
                    EVP_DigestUpdate(ctx, secret.data(), secret.size()) == 1 &&
                    EVP_DigestUpdate(ctx, challenge.data(), challenge.size()) == 1 &&
                    EVP_DigestFinal_ex(ctx, digest.data(), &length) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) return {};
    return std::vector<std::uint8_t>(digest.begin(), digest.begin() + length);
}

std::vector<std::uint8_t> chap_random_bytes(std::size_t length) {
    std::vector<std::uint8_t> out(length);
    if (length != 0 && RAND_bytes(out.data(), static_cast<int>(length)) != 1)
        throw std::runtime_error("the CSPRNG (OpenSSL RAND_bytes) failed: no CHAP challenge can be made");
    return out;
}

bool chap_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view chap_failure_text(ChapFailure failure) {
    switch (failure) {
        case ChapFailure::none: return "none";
        case ChapFailure::no_common_algorithm: return "the initiator offers no CHAP algorithm this target allows";
        case ChapFailure::unexpected_key: return "a CHAP key out of turn";
        case ChapFailure::missing_response: return "no CHAP_N or no CHAP_R after the challenge";
        case ChapFailure::malformed_response: return "CHAP_R is not a response of the algorithm's length";
        case ChapFailure::unknown_user: return "CHAP_N is not a user this target knows";
        case ChapFailure::wrong_response:
            return "CHAP_R does not match the challenge (wrong secret, or a stale response)";
        case ChapFailure::reflection: return "the initiator's challenge is the target's own sent back (reflection)";
        case ChapFailure::malformed_challenge: return "the initiator's CHAP_I or CHAP_C is not usable";
        case ChapFailure::mutual_not_configured:
            return "the initiator asks the target to authenticate itself, and no mutual CHAP secret is configured";
    }
    return "unknown";
}

ChapTargetExchange::ChapTargetExchange(std::vector<ChapAlgorithm> allowed, ChapCredentials expected,
                                       ChapCredentials mutual)
    : allowed_(std::move(allowed)), expected_(std::move(expected)), mutual_(std::move(mutual)) {}

ChapFailure ChapTargetExchange::on_request(const TextPairs& keys, TextPairs& answers) {
    const auto algorithms = find_value(keys, "CHAP_A");
    const bool has_response = find_value(keys, "CHAP_N") || find_value(keys, "CHAP_R");
    switch (state_) {
        case State::await_algorithms:
            if (has_response) return ChapFailure::unexpected_key;
            if (!algorithms) return ChapFailure::none;  // AuthMethod settled; CHAP_A comes next
            return choose_algorithm(*algorithms, answers);
        case State::await_response:
            if (algorithms) return ChapFailure::unexpected_key;
            return check_response(keys, answers);
        case State::done:
            if (algorithms || has_response || find_value(keys, "CHAP_C")) return ChapFailure::unexpected_key;
            return ChapFailure::none;
    }
    return ChapFailure::unexpected_key;
}

ChapFailure ChapTargetExchange::choose_algorithm(std::string_view offered, TextPairs& answers) {
    // RFC 7143 §6.2 list negotiation: the first value in the initiator's list that we may use.
    while (!offered.empty()) {
        const auto comma = offered.find(',');
        const auto value = offered.substr(0, comma);
        offered = comma == std::string_view::npos ? std::string_view() : offered.substr(comma + 1);
        const auto number = parse_decimal(value, 255);
        if (!number) continue;
        const auto id = static_cast<ChapAlgorithm>(*number);
        if (std::find(allowed_.begin(), allowed_.end(), id) == allowed_.end()) continue;
        algorithm_ = find_chap_algorithm(id);
        if (algorithm_ == nullptr) continue;
        // §12.1.3: a fresh identifier and challenge per exchange, from the CSPRNG; the challenge
        // is as long as the digest, so guessing it is as hard as inverting the hash.
        identifier_ = chap_random_bytes(1)[0];
        challenge_ = chap_random_bytes(algorithm_->digest_length);
        answers.emplace_back("CHAP_A", std::to_string(static_cast<unsigned>(id)));
        answers.emplace_back("CHAP_I", std::to_string(identifier_));
        answers.emplace_back("CHAP_C", encode_hex_value(challenge_));
        state_ = State::await_response;
        return ChapFailure::none;
    }
    return ChapFailure::no_common_algorithm;
}

ChapFailure ChapTargetExchange::check_response(const TextPairs& keys, TextPairs& answers) {
    const auto name = find_value(keys, "CHAP_N");
    const auto response_text = find_value(keys, "CHAP_R");
    if (!name || !response_text) return ChapFailure::missing_response;
    presented_user_ = *name;
    auto response = decode_binary_value(*response_text);
    if (!response || response->size() != algorithm_->digest_length) return ChapFailure::malformed_response;
    // Computed and compared whatever the name, so the time taken does not tell which was wrong.
    const auto expected = chap_response(algorithm_->id, identifier_, expected_.secret, challenge_);
    const bool user_ok = *name == expected_.user && !expected_.user.empty();
    const bool response_ok = !expected.empty() && chap_equal(*response, expected);
    if (!user_ok) return ChapFailure::unknown_user;
    if (!response_ok) return ChapFailure::wrong_response;

    const auto their_id = find_value(keys, "CHAP_I");
    const auto their_challenge = find_value(keys, "CHAP_C");
    if (their_id || their_challenge) {
        // The initiator authenticates the target too (mutual CHAP).
        if (!their_id || !their_challenge) return ChapFailure::malformed_challenge;
        auto identifier = parse_numeric_value(*their_id);
        auto challenge = decode_binary_value(*their_challenge);
        if (!identifier || *identifier > 255 || !challenge || challenge->empty() ||
            challenge->size() > kMaxChapChallengeLength)
            return ChapFailure::malformed_challenge;
        // §12.1.3: a challenge that is ours sent back would make us answer our own question.
        if (chap_equal(*challenge, challenge_)) return ChapFailure::reflection;
        if (mutual_.empty()) return ChapFailure::mutual_not_configured;
        auto answer = chap_response(algorithm_->id, static_cast<std::uint8_t>(*identifier), mutual_.secret, *challenge);
        if (answer.empty()) return ChapFailure::malformed_challenge;
        answers.emplace_back("CHAP_N", mutual_.user);
        answers.emplace_back("CHAP_R", encode_hex_value(answer));
        mutual_done_ = true;
    }
    state_ = State::done;
    return ChapFailure::none;
}

}  // namespace iscsikit::iscsi
