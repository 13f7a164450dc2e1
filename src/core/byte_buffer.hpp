// A command's data buffer: like std::vector<std::byte>, but its memory comes from the thread's
// BlockPool (a steady stream of commands reuses the same blocks) and it can grow without
// zero-filling what the caller is about to overwrite (a READ's data, a WRITE's Data-Out).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>

#include "core/pool.hpp"

namespace iscsikit {

class ByteBuffer {
public:
    ByteBuffer() noexcept = default;
    ByteBuffer(const ByteBuffer& other) { *this = other; }
    ByteBuffer& operator=(const ByteBuffer& other) {
        if (this != &other) {
            resize_for_overwrite(other.size_);
            if (size_) std::memcpy(data_, other.data_, size_);
        }
        return *this;
    }
    ByteBuffer(ByteBuffer&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)),
          size_(std::exchange(other.size_, 0)),
          capacity_(std::exchange(other.capacity_, 0)) {}
    ByteBuffer& operator=(ByteBuffer&& other) noexcept {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
            capacity_ = std::exchange(other.capacity_, 0);
        }
        return *this;
    }
    ~ByteBuffer() { release(); }

    std::byte* data() noexcept { return data_; }
    const std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::byte* begin() noexcept { return data_; }
    std::byte* end() noexcept { return data_ + size_; }
    const std::byte* begin() const noexcept { return data_; }
    const std::byte* end() const noexcept { return data_ + size_; }
    std::byte& operator[](std::size_t i) noexcept { return data_[i]; }
    const std::byte& operator[](std::size_t i) const noexcept { return data_[i]; }

    // Like vector::resize: bytes past the old size are zero.
    void resize(std::size_t n) {
        const std::size_t old = size_;
        resize_for_overwrite(n);
        if (n > old) std::memset(data_ + old, 0, n - old);
    }
    // Bytes past the old size are left as the pool had them: for a buffer the caller fills.
    void resize_for_overwrite(std::size_t n) {
        if (n > capacity_) {
            const std::size_t capacity = BlockPool::rounded(n);
            auto* bigger = static_cast<std::byte*>(BlockPool::local().allocate(capacity));
            if (size_) std::memcpy(bigger, data_, size_);
            release();
            data_ = bigger;
            capacity_ = capacity;
        }
        size_ = n;
    }
    // Room for `n` bytes without a later move; the size and the bytes stay as they are.
    void reserve(std::size_t n) {
        const std::size_t keep = size_;
        if (n > capacity_) resize_for_overwrite(n);
        size_ = keep;
    }
    void assign(std::size_t n, std::byte value) {
        resize_for_overwrite(n);
        if (n) std::memset(data_, std::to_integer<int>(value), n);
    }
    void push_back(std::byte b) {
        if (size_ == capacity_) {
            const std::size_t keep = size_;
            resize_for_overwrite(std::max<std::size_t>(64, capacity_ * 2));
            size_ = keep;
        }
        data_[size_++] = b;
    }
    // Size 0; the memory stays for the next use.
    void clear() noexcept { size_ = 0; }

    friend bool operator==(const ByteBuffer& a, const ByteBuffer& b) {
        return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
    }

private:
    void release() noexcept {
        if (data_) BlockPool::local().deallocate(data_, capacity_);
        data_ = nullptr;
        size_ = capacity_ = 0;
    }

    std::byte* data_ = nullptr;
    std::size_t size_ = 0, capacity_ = 0;
};

}  // namespace iscsikit
