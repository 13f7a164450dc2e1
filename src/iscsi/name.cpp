#include "iscsi/name.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <string>

#include <fmt/format.h>

#include "core/ascii.hpp"
#include "core/bytes.hpp"

namespace iscsikit::iscsi {
namespace {

bool is_lower_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z'); }

}  // namespace

Result<void> check_iscsi_name(std::string_view name) {
    auto bad = [&](const std::string& why) {
        return fail(fmt::format("'{}' is not a valid iSCSI name: {}", name, why));
    };
    if (name.empty()) return bad("empty");
    // RFC 3720 §3.2.6.1: at most 223 bytes.
    if (name.size() > 223) return bad("longer than 223 bytes (RFC 3720 §3.2.6.1)");
    const std::string prefix(name.substr(0, 4));
    auto hex_tail = [&](std::initializer_list<std::size_t> lengths) {
        auto tail = name.substr(4);
        return std::find(lengths.begin(), lengths.end(), tail.size()) != lengths.end() &&
               std::all_of(tail.begin(), tail.end(), is_hex_digit);
    };
    // RFC 3720 §3.2.6.3.2: "eui." and 16 hex digits (an EUI-64).
    if (prefix == "eui.") return hex_tail({16}) ? Result<void>{} : bad("expected eui. and 16 hex digits");
    // RFC 3980 §2: "naa." and 16 or 32 hex digits.
    if (prefix == "naa.") return hex_tail({16, 32}) ? Result<void>{} : bad("expected naa. and 16 or 32 hex digits");
    if (prefix != "iqn.") {
        std::string lower = prefix;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower == "iqn." || lower == "eui." || lower == "naa.") return bad("the type prefix is lowercase");
        return bad("expected it to start with iqn., eui. or naa. (RFC 3720 §3.2.6.3)");
    }
    // RFC 3722 §6: names are case-folded, so a configured name must already be lowercase;
    // RFC 3720 §3.2.6.2: dash, dot, colon, a-z and 0-9.
    for (char c : name) {
        if (c >= 'A' && c <= 'Z') return bad("iSCSI names are lowercase (RFC 3722)");
        if (!is_lower_alnum(c) && c != '-' && c != '.' && c != ':')
            return bad(fmt::format("character '{}' is not allowed (a-z, 0-9, '-', '.', ':')", c));
    }
    // RFC 3720 §3.2.6.3.1: iqn.YYYY-MM.reversed.domain.name[:unique string]
    const std::string_view form = "expected iqn.YYYY-MM.reversed.domain[:name]";
    std::string_view rest = name.substr(4);
    if (rest.size() < 8 || !std::all_of(rest.begin(), rest.begin() + 4, is_digit) || rest[4] != '-' ||
        !is_digit(rest[5]) || !is_digit(rest[6]) || rest[7] != '.')
        return bad(std::string(form));
    int month = (rest[5] - '0') * 10 + (rest[6] - '0');
    if (month < 1 || month > 12) return bad(fmt::format("month {:02} in the date", month));
    rest.remove_prefix(8);
    auto colon = rest.find(':');
    std::string_view domain = rest.substr(0, colon);
    if (domain.empty()) return bad(std::string(form) + ": the naming authority's domain is missing");
    for (std::string_view labels = domain;;) {
        auto label = labels.substr(0, labels.find('.'));
        if (label.empty()) return bad(fmt::format("empty label in the domain '{}'", domain));
        if (label.size() == labels.size()) break;
        labels.remove_prefix(label.size() + 1);
    }
    if (colon != std::string_view::npos && colon + 1 == rest.size()) return bad("nothing after ':'");
    return {};
}

std::vector<std::uint8_t> initiator_port_transport_id(std::string_view initiator_name, std::uint64_t isid) {
    const std::string port = fmt::format("{},i,0x{:012x}", initiator_name, isid & 0xffffffffffffull);
    const std::size_t length = (port.size() + 1 + 3) / 4 * 4;  // ADDITIONAL LENGTH: the NUL, then padding
    std::vector<std::uint8_t> id(4 + length, 0);
    id[0] = 0x40 | 0x05;  // FORMAT CODE 01b, PROTOCOL IDENTIFIER 5h (iSCSI)
    store_be16(&id[2], static_cast<std::uint16_t>(length));
    std::copy(port.begin(), port.end(), id.begin() + 4);
    return id;
}

}  // namespace iscsikit::iscsi
