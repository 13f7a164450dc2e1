#include "target/discovery.hpp"

#include <fmt/format.h>

#include "iscsi/text.hpp"
#include "target/connection.hpp"
#include "target/server.hpp"

namespace iscsikit::target {

namespace {

std::string format_address(const std::string& host, std::uint16_t port, std::uint16_t tpgt) {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{},{}", host, port, tpgt);
    return fmt::format("{}:{},{}", host, port, tpgt);
}

void append_target(const TargetNode& node, const Connection& connection, std::vector<std::byte>& out) {
    iscsi::append_text(out, "TargetName", node.iqn);
    for (const auto& portal : node.portals) {
        std::string host = portal.host;
        if (host == "0.0.0.0" || host == "::" || host.empty()) host = connection.local_endpoint().address().to_string();
        // A portal configured with port 0 took its port from the kernel: the one we were reached on.
        const std::uint16_t port = portal.port ? portal.port : connection.local_endpoint().port();
        iscsi::append_text(out, "TargetAddress", format_address(host, port, node.portal_group_tag));
    }
}

}  // namespace

void append_send_targets(const Server& server, const Connection& connection, const TargetNode* session_target,
                         std::string_view initiator, std::string_view value, std::vector<std::byte>& out) {
    // An initiator is shown only the targets it may log in to.
    auto visible = [&](const TargetNode& node) { return server.access_of(node)->allows(initiator); };
    if (session_target && (value == "All" || value.empty())) {
        // RFC 7143 §13.3: in a normal session, "All" and "" name the session's own target.
        append_target(*session_target, connection, out);
        return;
    }
    if (value == "All") {
        for (const auto& node : server.targets())
            if (visible(*node)) append_target(*node, connection, out);
        return;
    }
    if (value.empty()) return;
    if (const auto node = server.find_target(value); node && visible(*node)) append_target(*node, connection, out);
}

}  // namespace iscsikit::target
