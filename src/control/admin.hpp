// The management API (docs/management.md): JSON-RPC 2.0 methods over a running target::Server.
// One table of methods; each checks its params and answers a result or an error that says what
// is wrong, and a request that fails changes nothing.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.hpp"
#include "target/server.hpp"

namespace iscsikit::control {

using Json = nlohmann::ordered_json;

// What the methods need beyond the server: where `save` writes by default (the --config file;
// empty: save needs a path) and what `reload` does (SIGHUP's work: reread that file and apply).
struct AdminContext {
    target::Server& server;
    std::string config_path;
    std::function<Result<Json>()> reload;
};

// JSON-RPC 2.0 error codes (the spec's, and one for a request the daemon refuses).
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kRefused = -32000;

// Answers one request (a parsed JSON value); the response object, or a null Json for a
// notification (a request without "id"), which gets no answer.
Json handle_request(AdminContext& context, const Json& request);
// Answers one line of text (parse errors included).
std::string handle_line(AdminContext& context, const std::string& line);

}  // namespace iscsikit::control
