// SPDX-License-Identifier: MIT
// The worker's side of shared memory for large payloads: its two arenas, how they are announced,
// and how requests are read from and results written to them.
#pragma once

#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/shared_arena.hpp>

#include <cstdint>
#include <string_view>

namespace osiiso::detail {

class WorkerArenas {
 public:
  // Creates the arenas and announces them on `reply_fd` (a SharedArenas frame); without memfd
  // every payload stays on the pipe. False when the pipe is gone.
  bool offer(int reply_fd) noexcept;
  // A SharedRequest becomes the Request it stands for, its payload viewed in the request arena
  // until release_request(); other frames are left as they are. Throws FrameError when malformed.
  void take_request(FrameView& frame);
  // The task of attempt `id` no longer reads its arguments: if its request is the one in the
  // arena, the parent may put the next one there (a worker that reads requests ahead releases
  // each after its own task).
  void release_request(std::uint64_t id) noexcept;
  // Writes one reply frame: a large Value through the reply arena when the parent has released
  // the previous one, anything else on the pipe. False when the pipe is gone.
  bool write_reply(int reply_fd, FrameType type, std::uint64_t id, std::string_view payload);

 private:
  SharedArena requests_;
  SharedArena replies_;
  std::uint64_t held_ = 0;  // the attempt whose request is in the arena
};

}  // namespace osiiso::detail
