// CHAP for iSCSI login (RFC 7143 §12.1.3, RFC 1994): the algorithms (one table), the binary-value
// codec its keys use (§6.1), and the target's side of the exchange (challenge, check of the
// initiator's response, and the answer to an initiator that authenticates the target too).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iscsi/text.hpp"

namespace iscsikit::iscsi {

// CHAP_A values (IANA "iSCSI CHAP algorithms"; RFC 7143 §12.1.3 defines 5, RFC 1994's MD5).
enum class ChapAlgorithm : std::uint8_t { md5 = 5, sha1 = 6, sha256 = 7, sha3_256 = 8 };

struct ChapAlgorithmInfo {
    ChapAlgorithm id;
    std::string_view name;      // as configured and logged: "MD5", "SHA1", "SHA256", "SHA3-256"
    std::size_t digest_length;  // bytes of CHAP_R; also the length of the challenges we send
};
// Every algorithm we implement, strongest first: our default preference on both sides.
std::span<const ChapAlgorithmInfo> chap_algorithms();
const ChapAlgorithmInfo* find_chap_algorithm(ChapAlgorithm id);
// By CHAP_A number ("7") or by name ("SHA256", case-insensitive, "SHA-256" too).
const ChapAlgorithmInfo* find_chap_algorithm(std::string_view text);
std::vector<ChapAlgorithm> default_chap_algorithms();

// RFC 7143 §9.2.1: a CHAP secret shorter than 96 bits is open to an offline dictionary attack.
inline constexpr std::size_t kMinChapSecretLength = 12;
// RFC 7143 §12.1.3 lets CHAP_C be long; we accept challenges up to this many bytes.
inline constexpr std::size_t kMaxChapChallengeLength = 1024;

// §6.1 binary values: "0x" + hex or "0b" + base64. nullopt when malformed.
std::optional<std::vector<std::uint8_t>> decode_binary_value(std::string_view text);
// "0x" + lowercase hex.
std::string encode_hex_value(std::span<const std::uint8_t> bytes);

// RFC 1994 §4.1: H(identifier || secret || challenge), H the algorithm's digest. Empty when the
// digest is unavailable (MD5 under a FIPS-only OpenSSL provider).
std::vector<std::uint8_t> chap_response(ChapAlgorithm algorithm, std::uint8_t identifier, std::string_view secret,
                                        std::span<const std::uint8_t> challenge);
// `length` bytes from OpenSSL's CSPRNG; throws std::runtime_error if it cannot give them.
std::vector<std::uint8_t> chap_random_bytes(std::size_t length);
// Constant-time comparison (equal lengths compared in full whatever the first difference).
bool chap_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

struct ChapCredentials {
    std::string user;
    std::string secret;
    bool empty() const { return user.empty(); }
};

// Why an exchange failed; each is answered with login status 0201 (authentication failure).
enum class ChapFailure : std::uint8_t {
    none,
    no_common_algorithm,    // the initiator's CHAP_A list holds none we allow
    unexpected_key,         // a CHAP key out of turn (CHAP_R before the challenge, CHAP_A twice...)
    missing_response,       // CHAP_N or CHAP_R absent after the challenge
    malformed_response,     // CHAP_R not a binary value of the digest's length
    unknown_user,           // CHAP_N is not the user we expect
    wrong_response,         // CHAP_R does not match: wrong secret, or a response to another challenge
    reflection,             // the initiator's challenge is ours sent back (§12.1.3)
    malformed_challenge,    // the initiator's CHAP_I/CHAP_C unusable (bad number, empty or too long)
    mutual_not_configured,  // the initiator asks the target to authenticate itself; it has no secret
};
std::string_view chap_failure_text(ChapFailure failure);

// The target's side of one CHAP exchange (RFC 7143 §12.1.3):
//   I->T CHAP_A=<A1,A2...>   T->I CHAP_A=<A> CHAP_I=<I> CHAP_C=<C>
//   I->T CHAP_N=<N> CHAP_R=<R> [CHAP_I=<I> CHAP_C=<C>]   T->I [CHAP_N=<N> CHAP_R=<R>]
// Each call takes one request's keys and appends this side's answers. A fresh identifier and
// challenge come from the CSPRNG for every exchange, so a response recorded from another login
// (a stale or replayed one) never matches.
class ChapTargetExchange {
public:
    // `allowed`: the algorithms this target may use; `expected`: what the initiator must present;
    // `mutual`: what the target answers with when asked (empty: it cannot be asked).
    ChapTargetExchange(std::vector<ChapAlgorithm> allowed, ChapCredentials expected, ChapCredentials mutual);

    // Feeds one request's CHAP_* keys (others are ignored) and appends the answers.
    ChapFailure on_request(const TextPairs& keys, TextPairs& answers);
    bool authenticated() const { return state_ == State::done; }
    // The CHAP_N the initiator presented (for log lines), empty before.
    const std::string& presented_user() const { return presented_user_; }
    const ChapAlgorithmInfo* algorithm() const { return algorithm_; }
    bool mutual() const { return mutual_done_; }

private:
    enum class State { await_algorithms, await_response, done };
    ChapFailure choose_algorithm(std::string_view offered, TextPairs& answers);
    ChapFailure check_response(const TextPairs& keys, TextPairs& answers);

    std::vector<ChapAlgorithm> allowed_;
    ChapCredentials expected_, mutual_;
    State state_ = State::await_algorithms;
    const ChapAlgorithmInfo* algorithm_ = nullptr;
    std::uint8_t identifier_ = 0;
    std::vector<std::uint8_t> challenge_;
    std::string presented_user_;
    bool mutual_done_ = false;
};

}  // namespace iscsikit::iscsi
