// Text key=value pairs as Login and Text PDUs carry them (RFC 7143 §6): each pair is
// "key=value\0"; keys are at most 63 bytes, values at most 255 bytes unless the key says more
// (SendTargets answers, CHAP challenges up to 8192 including the encoding).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "core/bytes.hpp"

namespace iscsikit::iscsi {

using TextPair = std::pair<std::string, std::string>;
using TextPairs = std::vector<TextPair>;

inline constexpr std::size_t kMaxKeyLength = 63;
inline constexpr std::size_t kMaxValueLength = 8192;

enum class TextError : std::uint8_t {
    missing_equals,  // a pair with no '='
    empty_key,
    key_too_long,
    value_too_long,
    bad_key_character,  // RFC 7143 §6.1: letters, digits, '.', '-', '+', '@', '_'
    duplicate_key,      // the same key twice in one request (§6.1 forbids it; TargetName and
                        // TargetAddress may repeat, as SendTargets answers do)
};
const char* text_error_name(TextError e);

// Parses a complete data segment (or a concatenation of continued segments, joined by the caller
// once the C bit is clear). The last pair may lack its NUL terminator; it is taken as complete.
// Empty strings between NULs (NUL padding some initiators send) are skipped. Keys that are not in
// the RFC 7143 §13 table are returned as they are; answering them is the negotiator's job.
tl::expected<TextPairs, TextError> parse_text(ConstByteSpan data);

// Appends "key=value\0".
void append_text(std::vector<std::byte>& out, std::string_view key, std::string_view value);
std::vector<std::byte> build_text(const TextPairs& pairs);

// The value of the first pair named `key`, or nullopt. The view points into `pairs`, so a
// temporary is refused. Only TargetName and TargetAddress may repeat (§6.1); their first is taken.
std::optional<std::string_view> find_value(const TextPairs& pairs, std::string_view key);
std::optional<std::string_view> find_value(const TextPairs&& pairs, std::string_view key) = delete;

}  // namespace iscsikit::iscsi
