// SendTargets (RFC 7143 §12.3, Appendix C): which targets, at which portals.
#pragma once

#include <string_view>
#include <vector>

#include <cstddef>

namespace iscsikit::target {

class Server;
class Connection;
struct TargetNode;

// Appends the answer to "SendTargets=<value>": "All" lists every target (in a normal session,
// only the session's own); an empty value lists the session's target; an IQN lists that target.
// Each target is TargetName= followed by one TargetAddress= per portal ("host:port,tpgt"); a
// wildcard portal reports the address the initiator connected to. Targets whose access rules do
// not allow `initiator` are left out, as if they did not exist.
void append_send_targets(const Server& server, const Connection& connection, const TargetNode* session_target,
                         std::string_view initiator, std::string_view value, std::vector<std::byte>& out);

}  // namespace iscsikit::target
