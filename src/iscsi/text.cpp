#include "iscsi/text.hpp"

#include <unordered_set>

namespace iscsikit::iscsi {

namespace {

// RFC 7143 §6.1: a standard-label is letters, digits, '.', '-', '+', '@' and '_'. Public extension
// keys (§13.22, RFC 4850) start "X#", so '#' is allowed as the second character after 'X'.
bool key_character_ok(std::string_view key, std::size_t i) {
    const char c = key[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    if (c == '.' || c == '-' || c == '+' || c == '@' || c == '_') return true;
    return c == '#' && i == 1 && key[0] == 'X';
}

bool repeatable_key(std::string_view key) { return key == "TargetName" || key == "TargetAddress"; }

}  // namespace

const char* text_error_name(TextError e) {
    switch (e) {
        case TextError::missing_equals: return "key=value pair without '='";
        case TextError::empty_key: return "empty key";
        case TextError::key_too_long: return "key longer than 63 bytes";
        case TextError::value_too_long: return "value too long";
        case TextError::bad_key_character: return "bad character in key";
        case TextError::duplicate_key: return "key sent twice";
    }
    return "unknown text error";
}

tl::expected<TextPairs, TextError> parse_text(ConstByteSpan data) {
    const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
    TextPairs pairs;
    std::unordered_set<std::string_view> seen;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\0', pos);
        if (end == std::string_view::npos) end = text.size();  // last pair without its NUL
        const std::string_view item = text.substr(pos, end - pos);
        pos = end + 1;
        if (item.empty()) continue;

        const std::size_t eq = item.find('=');
        if (eq == std::string_view::npos) return tl::unexpected(TextError::missing_equals);
        const std::string_view key = item.substr(0, eq);
        const std::string_view value = item.substr(eq + 1);
        if (key.empty()) return tl::unexpected(TextError::empty_key);
        if (key.size() > kMaxKeyLength) return tl::unexpected(TextError::key_too_long);  // §6.1
        for (std::size_t i = 0; i < key.size(); ++i) {
            if (!key_character_ok(key, i)) return tl::unexpected(TextError::bad_key_character);
        }
        if (value.size() > kMaxValueLength) return tl::unexpected(TextError::value_too_long);
        // RFC 7143 §6.1: a key is not negotiated or declared twice, except keys that explicitly
        // repeat: a SendTargets answer lists TargetName and TargetAddress once per target/portal.
        if (!repeatable_key(key) && !seen.insert(key).second) return tl::unexpected(TextError::duplicate_key);
        pairs.emplace_back(std::string(key), std::string(value));
    }
    return pairs;
}

void append_text(std::vector<std::byte>& out, std::string_view key, std::string_view value) {
    out.reserve(out.size() + key.size() + value.size() + 2);
    for (char c : key) out.push_back(static_cast<std::byte>(c));
    out.push_back(static_cast<std::byte>('='));
    for (char c : value) out.push_back(static_cast<std::byte>(c));
    out.push_back(std::byte{0});
}

std::vector<std::byte> build_text(const TextPairs& pairs) {
    std::vector<std::byte> out;
    for (const auto& [key, value] : pairs) append_text(out, key, value);
    return out;
}

std::optional<std::string_view> find_value(const TextPairs& pairs, std::string_view key) {
    for (const auto& [name, value] : pairs)
        if (name == key) return value;
    return std::nullopt;
}

}  // namespace iscsikit::iscsi
