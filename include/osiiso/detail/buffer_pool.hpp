// SPDX-License-Identifier: MIT
// Large serialization buffers kept between tasks, so that a stream of large arguments does not
// fault fresh pages in for every request (glibc hands freed megabyte blocks back to the kernel).
#pragma once

#include <cstddef>
#include <string>

namespace osiiso::detail {

// Buffers smaller than this are left to the allocator: it keeps small blocks warm by itself.
inline constexpr std::size_t kRecycleMinCapacity = std::size_t{64} << 10;
// Buffers larger than this are freed, not kept: one huge argument must not pin its memory.
inline constexpr std::size_t kRecycleMaxCapacity = std::size_t{64} << 20;
// How many buffers the process keeps at most.
inline constexpr std::size_t kRecycleMaxBuffers = 4;

// An empty string with room for at least `capacity` bytes, recycled when one is available.
std::string take_buffer(std::size_t capacity);
// Keeps `buffer`'s memory for a later take_buffer() (or frees it when it is too small or too
// large, or the pool is full). Thread-safe; never throws.
void recycle_buffer(std::string&& buffer) noexcept;
// The capacity of all buffers kept now, in bytes.
std::size_t kept_buffer_bytes() noexcept;
// In a freshly forked child: another thread may have held the pool's lock during fork.
void reset_buffer_pool_after_fork() noexcept;

}  // namespace osiiso::detail
