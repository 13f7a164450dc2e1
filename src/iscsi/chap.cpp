// CHAP with MD5 (RFC 1994, RFC 7143 §12.1.3) and the binary-value encodings its keys use
// (RFC 7143 §6.1).
#include "iscsi/chap.hpp"

#include <openssl/evp.h>

#include <array>

namespace iscsikit::iscsi {
namespace {

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

std::string encode_hex_value(const std::vector<std::uint8_t>& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out = "0x";
    out.reserve(2 + bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0f];
    }
    return out;
}

std::vector<std::uint8_t> chap_md5_response(std::uint8_t identifier, std::string_view secret,
                                            const std::vector<std::uint8_t>& challenge) {
    // RFC 1994 §4.1: Response = MD5(Identifier || secret || Challenge).
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_md5(), nullptr) == 1 &&
                    EVP_DigestUpdate(ctx, &identifier, 1) == 1 &&
                    EVP_DigestUpdate(ctx, secret.data(), secret.size()) == 1 &&
                    EVP_DigestUpdate(ctx, challenge.data(), challenge.size()) == 1 &&
                    EVP_DigestFinal_ex(ctx, digest.data(), &length) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) return {};  // MD5 unavailable (a FIPS-only provider): no response can be made
    return std::vector<std::uint8_t>(digest.begin(), digest.begin() + length);
}

}  // namespace iscsikit::iscsi
