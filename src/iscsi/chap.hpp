// CHAP for iSCSI login (RFC 7143 §12.1.3, RFC 1994): the initiator's response to a target's
// challenge, with MD5 (CHAP_A=5) as every iSCSI target supports.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iscsikit::iscsi {

inline constexpr std::string_view kChapMd5 = "5";

// §6.1 binary values: "0x" + hex or "0b" + base64. nullopt when malformed.
std::optional<std::vector<std::uint8_t>> decode_binary_value(std::string_view text);
// "0x" + lowercase hex.
std::string encode_hex_value(const std::vector<std::uint8_t>& bytes);

// RFC 1994 §4.1: MD5(identifier || secret || challenge).
std::vector<std::uint8_t> chap_md5_response(std::uint8_t identifier, std::string_view secret,
                                            const std::vector<std::uint8_t>& challenge);

}  // namespace iscsikit::iscsi
