// SPDX-License-Identifier: MIT
// Shared memory for large payloads: a worker's two arenas (one for its requests, one for its
// results), each a sealed memfd mapped by the worker and by its parent.
#pragma once

#include <osiiso/detail/fd.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace osiiso::detail {

// Payloads above this size travel through an arena instead of the pipe. Smaller requests go out
// with their header in one write; above it the pipe's two extra copies and wake-ups cost more than
// the arena's one copy (measured around the threshold: docs/performance.md).
inline constexpr std::size_t kSharedPayloadMin = std::size_t{64} << 10;
// Bytes at the start of an arena: its busy word (the rest pads the payload to a cache line).
inline constexpr std::size_t kArenaHeader = 64;
// Pages of a payload beyond this are handed back to the kernel once it has been read, so that one
// huge argument or result does not pin its memory for the worker's lifetime.
inline constexpr std::size_t kArenaKept = (std::size_t{64} << 20) + (std::size_t{1} << 20);

// One direction's arena. One payload at a time: the sender puts it and marks the arena busy, the
// receiver views it in place and releases it; a payload that finds the arena busy (or that it
// cannot grow for) takes the pipe. The memfd is sealed against shrinking, so a mapping checked
// against the file's size can never fault, whatever the other process does.
class SharedArena {
 public:
  SharedArena() = default;
  // A new arena of the worker; an empty one when memfd_create or mmap fails.
  static SharedArena create(const char* name) noexcept;
  // An arena from a descriptor of the other process; an empty one when `fd` is not a memfd
  // sealed against shrinking or cannot be mapped.
  static SharedArena adopt(UniqueFd fd) noexcept;
  SharedArena(SharedArena&& other) noexcept;
  SharedArena& operator=(SharedArena&& other) noexcept;
  SharedArena(const SharedArena&) = delete;
  SharedArena& operator=(const SharedArena&) = delete;
  ~SharedArena() { unmap(); }

  [[nodiscard]] explicit operator bool() const noexcept { return base_ != nullptr; }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

  // Sender: copies `payload`, then `rest`, in (growing the arena when needed) and marks the arena
  // busy; false, with nothing changed, when it is busy or cannot grow.
  bool put(std::string_view payload, std::string_view rest = {}) noexcept;
  // Receiver: the `size` bytes the other side published. Throws FrameError when `size` exceeds
  // `max_size`, when nothing is published, or when the arena is smaller than `size`.
  std::string_view view(std::uint64_t size, std::size_t max_size);
  // Receiver: done with the payload it viewed, if any (the sender may put the next one).
  void release() noexcept;

 private:
  bool map(std::size_t size) noexcept;
  void unmap() noexcept;

  UniqueFd fd_;
  char* base_ = nullptr;
  std::size_t mapped_ = 0;  // bytes mapped (the file may be larger)
  std::size_t viewed_ = 0;  // receiver: the size of the payload being read
  bool holding_ = false;    // receiver: a payload is being read
};

// The payload of a SharedRequest or SharedValue frame: the size of the payload in the arena.
std::string encode_shared_size(std::uint64_t size);
// Throws FrameError when `payload` is not one.
std::uint64_t decode_shared_size(std::string_view payload);

// The payload of a SharedArenas frame: the worker's descriptor numbers of its two arenas.
struct ArenaNumbers {
  int requests = -1;
  int replies = -1;
};
std::string encode_arena_numbers(ArenaNumbers numbers);
// Throws FrameError when `payload` is not one.
ArenaNumbers decode_arena_numbers(std::string_view payload);

// The arena the process behind `pidfd` holds as descriptor `number` (pidfd_getfd); an empty one
// when the kernel refuses (no pidfd_getfd, no permission, a closed descriptor) or it is no arena.
SharedArena fetch_arena(int pidfd, int number) noexcept;

}  // namespace osiiso::detail
