// SPDX-License-Identifier: MIT
// The process-wide pool of large serialization buffers.
#include <osiiso/detail/buffer_pool.hpp>

#include <algorithm>
#include <array>
#include <mutex>
#include <new>
#include <utility>

namespace osiiso::detail {

namespace {

struct BufferPool {
  std::mutex mu;
  std::array<std::string, kRecycleMaxBuffers> buffers;  // empty strings hold no buffer
};

BufferPool& pool() {
  // Never destroyed: ProcessWork objects may be released during static destruction.
  static auto* instance = new BufferPool();
  return *instance;
}

}  // namespace

std::string take_buffer(std::size_t capacity) {
  std::string taken;
  if (capacity >= kRecycleMinCapacity && capacity <= kRecycleMaxCapacity) {
    auto& p = pool();
    std::lock_guard lock(p.mu);
    // The smallest buffer that fits, so that a large one stays for a large request.
    std::string* best = nullptr;
    for (auto& b : p.buffers) {
      if (b.capacity() >= capacity && (best == nullptr || b.capacity() < best->capacity())) best = &b;
    }
    if (best != nullptr) taken = std::exchange(*best, std::string());
  }
  taken.reserve(capacity);
  return taken;
}

void recycle_buffer(std::string&& buffer) noexcept {
  if (buffer.capacity() < kRecycleMinCapacity || buffer.capacity() > kRecycleMaxCapacity) return;
  std::string freed;  // released outside the lock
  {
    auto& p = pool();
    std::lock_guard lock(p.mu);
    // Replaces an empty slot, or else the smallest kept buffer if this one is larger.
    auto* slot = std::min_element(p.buffers.begin(), p.buffers.end(), [](const std::string& a, const std::string& b) {
      return a.capacity() < b.capacity();
    });
    if (slot->capacity() >= buffer.capacity()) {
      freed = std::move(buffer);
    } else {
      buffer.clear();
      freed = std::exchange(*slot, std::move(buffer));
    }
  }
}

std::size_t kept_buffer_bytes() noexcept {
  auto& p = pool();
  std::lock_guard lock(p.mu);
  std::size_t total = 0;
  for (const auto& b : p.buffers) {
    if (b.capacity() >= kRecycleMinCapacity) total += b.capacity();
  }
  return total;
}

void reset_buffer_pool_after_fork() noexcept { new (&pool().mu) std::mutex(); }

}  // namespace osiiso::detail
