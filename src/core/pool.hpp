// Per-thread recycling of the data path's small and medium blocks: a target's tasks, their table
// nodes, and command data buffers go back to a free list of their size class when released and
// are handed out again, so a steady stream of commands allocates nothing. Each reactor thread has
// its own lists (no lock); a block freed on another thread joins that thread's lists, which is
// harmless. Lists are bounded, so a burst's memory returns to the system afterwards.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <utility>
#include <new>

namespace iscsikit {

class BlockPool {
public:
    // Size classes: 64-byte steps up to 1 KiB (objects, nodes), then powers of two up to 1 MiB
    // (data buffers). Larger blocks are not pooled.
    static constexpr std::size_t kLargestPooled = std::size_t{1} << 20;

    static BlockPool& local() {
        thread_local BlockPool pool;
        return pool;
    }

    // The capacity a request for `bytes` really gets (its class's size), or `bytes` when unpooled.
    static std::size_t rounded(std::size_t bytes) {
        const int c = size_class(bytes);
        return c < 0 ? bytes : class_bytes(c);
    }

    // Blocks of 512 bytes or more start on a 512-byte boundary, of 4 KiB or more on a page: a
    // command buffer can then go to a file opened with O_DIRECT (cache=none) as it is.
    static std::size_t alignment(std::size_t bytes) {
        if (bytes >= 4096) return 4096;
        if (bytes >= 512) return 512;
        return __STDCPP_DEFAULT_NEW_ALIGNMENT__;
    }

    void* allocate(std::size_t bytes) {
        const int c = size_class(bytes);
        if (c < 0) return raw_allocate(bytes);
        if (Node* node = free_[c]) {
            free_[c] = node->next;
            --count_[c];
            return node;
        }
        return raw_allocate(class_bytes(c));
    }

    void deallocate(void* p, std::size_t bytes) noexcept {
        const int c = size_class(bytes);
        if (c < 0) return raw_deallocate(p, bytes);
        if (count_[c] >= keep(c)) return raw_deallocate(p, class_bytes(c));
        auto* node = static_cast<Node*>(p);
        node->next = free_[c];
        free_[c] = node;
        ++count_[c];
    }

    BlockPool() = default;
    BlockPool(const BlockPool&) = delete;
    BlockPool& operator=(const BlockPool&) = delete;
    ~BlockPool() {
        for (int c = 0; c < kClasses; ++c)
            for (Node* head = free_[c]; head;) {
                Node* next = head->next;
                raw_deallocate(head, class_bytes(c));
                head = next;
            }
    }

private:
    struct Node {
        Node* next;
    };
    static void* raw_allocate(std::size_t bytes) {
        const std::size_t align = alignment(bytes);
        if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return ::operator new(bytes);
        return ::operator new (bytes, std::align_val_t{align});
    }
    static void raw_deallocate(void* p, std::size_t bytes) noexcept {
        const std::size_t align = alignment(bytes);
        if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__)
            ::operator delete(p);
        else
            ::operator delete (p, std::align_val_t{align});
    }
    static constexpr int kSmallClasses = 16;  // 64 .. 1024 bytes
    static constexpr int kLargeClasses = 10;  // 2 KiB .. 1 MiB
    static constexpr int kClasses = kSmallClasses + kLargeClasses;

    static int size_class(std::size_t bytes) {
        if (bytes == 0) bytes = 1;
        if (bytes <= 1024) return static_cast<int>((bytes + 63) / 64) - 1;
        if (bytes > kLargestPooled) return -1;
        int c = kSmallClasses;
        std::size_t size = 2048;
        while (size < bytes) {
            size <<= 1;
            ++c;
        }
        return c;
    }
    static std::size_t class_bytes(int c) {
        return c < kSmallClasses ? std::size_t(c + 1) * 64 : std::size_t{2048} << (c - kSmallClasses);
    }
    // At most this many free blocks per class: small ones freely, large ones up to ~32 MiB each.
    static std::size_t keep(int c) {
        return c < kSmallClasses ? 4096 : std::max<std::size_t>(8, (std::size_t{32} << 20) / class_bytes(c));
    }

    std::array<Node*, kClasses> free_{};
    std::array<std::size_t, kClasses> count_{};
};

// A standard allocator over BlockPool, for std::allocate_shared and node-based containers.
template <class T>
struct PoolAllocator {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "BlockPool gives operator new's alignment");
    using value_type = T;
    PoolAllocator() noexcept = default;
    template <class U>
    PoolAllocator(const PoolAllocator<U>&) noexcept {}  // NOLINT: rebinding, as allocators do
    // NOLINTNEXTLINE(bugprone-sizeof-expression): T may be a pointer type, as for any allocator
    T* allocate(std::size_t n) { return static_cast<T*>(BlockPool::local().allocate(n * sizeof(T))); }
    // NOLINTNEXTLINE(bugprone-sizeof-expression)
    void deallocate(T* p, std::size_t n) noexcept { BlockPool::local().deallocate(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const PoolAllocator<U>&) const noexcept {
        return true;
    }
};

// unique_ptr over a BlockPool block.
struct PoolDelete {
    template <class T>
    void operator()(T* p) const noexcept {
        p->~T();
        BlockPool::local().deallocate(p, sizeof(T));
    }
};
template <class T>
using PooledPtr = std::unique_ptr<T, PoolDelete>;

template <class T, class... Args>
PooledPtr<T> make_pooled(Args&&... args) {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "BlockPool gives operator new's alignment");
    void* p = BlockPool::local().allocate(sizeof(T));
    try {
        return PooledPtr<T>(::new (p) T(std::forward<Args>(args)...));
    } catch (...) {
        BlockPool::local().deallocate(p, sizeof(T));
        throw;
    }
}

}  // namespace iscsikit
