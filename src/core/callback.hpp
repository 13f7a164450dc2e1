// The one move-only callable of the project: completion callbacks of I/O, commands and tasks.
// std::function needs copyable targets and allocates for anything larger than two pointers;
// Asio's handlers are move-only. A Callback keeps a callable of up to kInlineSize bytes
// inside itself, so the data path allocates nothing for its callbacks; a larger one still works
// and goes to the heap (allocations are counted by tests/unit/core/allocation_test.cpp).
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace iscsikit {

template <class Signature, std::size_t InlineSize = 48>
class Callback;

template <class R, class... Args, std::size_t InlineSize>
class Callback<R(Args...), InlineSize> {
public:
    static constexpr std::size_t kInlineSize = InlineSize;

    Callback() noexcept = default;
    Callback(std::nullptr_t) noexcept {}  // NOLINT: implicit, like std::function

    template <class F, class D = std::decay_t<F>,
              class = std::enable_if_t<!std::is_same_v<D, Callback> && std::is_invocable_r_v<R, D&, Args...>>>
    Callback(F&& f) {  // NOLINT: implicit by design, as std::function's
        if constexpr (fits<D>) {
            ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
            ops_ = &inline_ops<D>;
        } else {
            heap_ = new D(std::forward<F>(f));
            ops_ = &heap_ops<D>;
        }
    }

    Callback(Callback&& other) noexcept { take(other); }
    Callback& operator=(Callback&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    Callback& operator=(std::nullptr_t) noexcept {
        reset();
        return *this;
    }
    Callback(const Callback&) = delete;
    Callback& operator=(const Callback&) = delete;
    ~Callback() { reset(); }

    explicit operator bool() const noexcept { return ops_ != nullptr; }

    // const like std::function's, so a lambda that captured a Callback can call it unmarked.
    R operator()(Args... args) const { return ops_->call(target(), std::forward<Args>(args)...); }

    void reset() noexcept {
        if (ops_) ops_->destroy(*this);
        ops_ = nullptr;
        heap_ = nullptr;
    }

private:
    struct Ops {
        R (*call)(void* target, Args&&... args);
        void (*move)(Callback& from, Callback& to) noexcept;  // from is left empty
        void (*destroy)(Callback& self) noexcept;
    };

    template <class D>
    static constexpr bool fits = sizeof(D) <= InlineSize &&
                                 alignof(D) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<D>;

    template <class D>
    static constexpr Ops inline_ops{
        [](void* t, Args&&... args) -> R { return (*static_cast<D*>(t))(std::forward<Args>(args)...); },
        [](Callback& from, Callback& to) noexcept {
            D* src = std::launder(reinterpret_cast<D*>(from.storage_));
            ::new (static_cast<void*>(to.storage_)) D(std::move(*src));
            src->~D();
        },
        [](Callback& self) noexcept { std::launder(reinterpret_cast<D*>(self.storage_))->~D(); },
    };

    template <class D>
    static constexpr Ops heap_ops{
        [](void* t, Args&&... args) -> R { return (*static_cast<D*>(t))(std::forward<Args>(args)...); },
        [](Callback& from, Callback& to) noexcept {
            to.heap_ = from.heap_;
            from.heap_ = nullptr;
        },
        [](Callback& self) noexcept { delete static_cast<D*>(self.heap_); },
    };

    void* target() const noexcept { return heap_ ? heap_ : const_cast<std::byte*>(storage_); }

    void take(Callback& other) noexcept {
        if (!other.ops_) return;
        other.ops_->move(other, *this);
        ops_ = other.ops_;
        other.ops_ = nullptr;
    }

    alignas(std::max_align_t) std::byte storage_[InlineSize];
    void* heap_ = nullptr;  // the callable, when it did not fit inline
    const Ops* ops_ = nullptr;
};

// Runs a callable once, when destroyed or reset: what keeps memory lent to a transfer valid (a
// cache page stays pinned while Data-In points into it). Move-only, and no allocation for a
// callable that fits a Callback.
class Hold {
public:
    Hold() noexcept = default;
    explicit Hold(Callback<void()> release) noexcept : release_(std::move(release)) {}
    Hold(Hold&& other) noexcept = default;
    Hold& operator=(Hold&& other) noexcept {
        if (this != &other) {
            reset();
            release_ = std::move(other.release_);
        }
        return *this;
    }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() { reset(); }

    explicit operator bool() const noexcept { return static_cast<bool>(release_); }
    void reset() noexcept {
        if (!release_) return;
        auto release = std::move(release_);
        release();
    }

private:
    Callback<void()> release_;
};

}  // namespace iscsikit
