// SPDX-License-Identifier: MIT
// Reads a worker's non-blocking reply pipe into frames.
#pragma once

#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/shared_arena.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <utility>

namespace osiiso::detail {

class ReplyReader {
 public:
  explicit ReplyReader(std::size_t max_frame = kMaxFrameSize) : decoder_(max_frame), max_frame_(max_frame) {}

  // Reads what the pipe holds (a bounded number of reads, so that one worker cannot hold the
  // poller), through `buffer`; false at end of file or on a read error. Throws std::bad_alloc.
  bool fill(int fd, std::span<char> buffer);
  // The next complete frame, a SharedValue already turned into the Value it stands for (its
  // payload copied out of the reply arena); throws FrameError on corrupt input.
  std::optional<Frame> next();
  // Drops everything received (and its memory).
  void reset() { decoder_ = FrameDecoder(max_frame_); }
  // SharedValue frames are read from `arena` (the worker's reply arena) from now on.
  void attach_arena(SharedArena arena) noexcept { arena_ = std::move(arena); }

 private:
  FrameDecoder decoder_;
  std::size_t max_frame_;
  SharedArena arena_;
};

}  // namespace osiiso::detail
