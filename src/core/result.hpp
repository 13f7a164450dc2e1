// Errors are values on the data path (STYLE.md rule 6): every fallible call returns Result<T>.
#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace iscsikit {

// A failure with a message a person can read. Modules that need a finer taxonomy carry their own
// code (iscsi::RejectReason, scsi::Sense) inside their result types.
struct Error {
    std::string message;
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(std::string message) { return tl::unexpected<Error>(Error{std::move(message)}); }

}  // namespace iscsikit
