// Errors are values on the data path (STYLE.md rule 6): every fallible call returns Result<T>.
#pragma once

#include <string>
#include <system_error>
#include <utility>

#include <tl/expected.hpp>

namespace iscsikit {

// A failure with a message a person can read, and the code a program can act on: each layer has
// its own error enum with a std::error_category (iscsi::ChannelErrc, ...), errno values use
// std::generic_category. An empty code means "no finer classification".
struct Error {
    std::string message;
    std::error_code code{};
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(std::string message) { return tl::unexpected<Error>(Error{std::move(message)}); }
inline tl::unexpected<Error> fail(std::error_code code, std::string message) {
    return tl::unexpected<Error>(Error{std::move(message), code});
}

}  // namespace iscsikit
