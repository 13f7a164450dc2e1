// A move-only callable holder for completion callbacks: std::function needs copyable targets, and
// Asio's coroutine completion handlers are move-only. Small, no small-buffer tricks.
#pragma once

#include <memory>
#include <utility>

namespace iscsikit::initiator {

template <class Signature>
class UniqueFunction;

template <class R, class... Args>
class UniqueFunction<R(Args...)> {
public:
    UniqueFunction() = default;
    template <class F>
    UniqueFunction(F f) : impl_(std::make_unique<Model<F>>(std::move(f))) {}  // NOLINT: implicit by design

    explicit operator bool() const { return impl_ != nullptr; }
    R operator()(Args... args) { return impl_->call(std::forward<Args>(args)...); }

private:
    struct Concept {
        virtual ~Concept() = default;
        virtual R call(Args... args) = 0;
    };
    template <class F>
    struct Model final : Concept {
        explicit Model(F f) : fn(std::move(f)) {}
        R call(Args... args) override { return fn(std::forward<Args>(args)...); }
        F fn;
    };
    std::unique_ptr<Concept> impl_;
};

}  // namespace iscsikit::initiator
