#pragma once
// Table-driven checks for text parsers that return Result<T> (core/size.hpp, iscsi/portal.hpp):
// each row is the text and what it must parse to, or the reason it must be refused with.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

namespace iscsikit::test {

template <class T, class Parse>
void expect_parsed(Parse parse, std::initializer_list<std::pair<const char*, T>> cases) {
    for (const auto& [text, want] : cases) {
        auto got = parse(text);
        EXPECT_TRUE(got) << text << ": " << (got ? "" : got.error().message);
        if (got) {
            EXPECT_EQ(*got, want) << text;
        }
    }
}

template <class Parse>
void expect_refused(Parse parse, std::initializer_list<std::pair<std::string, std::string>> cases) {
    for (const auto& [text, why] : cases) {
        auto got = parse(text);
        EXPECT_FALSE(got) << text << " parsed";
        if (!got) {
            EXPECT_EQ(got.error().message, why) << text;
        }
    }
}

}  // namespace iscsikit::test
