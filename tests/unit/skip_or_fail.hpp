#pragma once
// A test whose prerequisite is missing (io_uring, root, a tool) skips on a developer's machine and
// fails in CI (CI=true), so that a green CI run means every test ran. The reason says what is
// missing and what provides it; both outcomes print it.

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

namespace iscsikit::test {

inline bool in_ci() {
    const char* ci = std::getenv("CI");
    return ci != nullptr && std::strcmp(ci, "true") == 0;
}

}  // namespace iscsikit::test

// Returns from the calling test function (or SetUp) like GTEST_SKIP() and FAIL() do.
#define ISCSIKIT_SKIP_OR_FAIL(reason)                                                                \
    do {                                                                                             \
        if (::iscsikit::test::in_ci()) FAIL() << "missing prerequisite under CI=true: " << (reason); \
        GTEST_SKIP() << (reason);                                                                    \
    } while (false)
