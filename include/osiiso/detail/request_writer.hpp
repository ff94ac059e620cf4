// SPDX-License-Identifier: MIT
// Writes one request frame to a worker's non-blocking pipe, in as many turns as the pipe needs.
#pragma once

#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/shared_arena.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace osiiso::detail {

class RequestWriter {
 public:
  enum class Progress {
    Done,     // the whole frame is written
    Blocked,  // the pipe is full: call pump() again when it is writable
    Broken,   // the worker is gone (EPIPE): its end is reported by its reply pipe and pidfd
  };

  // Frames `request` as the request of attempt `id`. A small request is copied next to its
  // header (one write); a large one goes into the worker's request arena when it has one that is
  // free, else its arguments are written in place, kept alive by `owner` even if the attempt is
  // abandoned. Throws FrameError when the frame would exceed `max_frame`.
  void begin(std::uint64_t id, RequestView request, std::shared_ptr<const void> owner, std::size_t max_frame);
  // Frames `request` as a frame of `type` (Request or Queued) after those not yet written, so
  // that several go out in one write; false (nothing added) while a large request is being
  // written in place. Throws FrameError when the frame would exceed `max_frame`.
  bool add(FrameType type, std::uint64_t id, RequestView request, std::shared_ptr<const void> owner,
           std::size_t max_frame);
  // Frames a frame of `type` without payload (Cancel) likewise; false while a large request is
  // being written in place.
  bool add_signal(FrameType type, std::uint64_t id, std::size_t max_frame);
  // Writes what the pipe takes.
  Progress pump(int fd);
  // True between begin() and the end of its frame.
  [[nodiscard]] bool pending() const noexcept { return offset_ < out_.size() + body_.size(); }
  // Forgets the frame (and releases its payload).
  void clear() noexcept;
  // Large requests go through `arena` (the worker's request arena) from now on.
  void attach_arena(SharedArena arena) noexcept { arena_ = std::move(arena); }

 private:
  // Drops what was written of out_, so that a frame can follow the rest; false while a large
  // request's arguments are written in place.
  bool make_room();
  // Appends the frame: a large request's arguments are then written in place.
  void append(FrameType type, std::uint64_t id, RequestView request, std::shared_ptr<const void>& owner,
              std::size_t max_frame);

  std::string out_;                    // the frame header, or the whole frame when it is small
  std::string_view body_;              // a large request's arguments, written in place
  std::shared_ptr<const void> owner_;  // keeps body_ alive
  std::size_t offset_ = 0;             // over out_, then body_
  SharedArena arena_;
};

}  // namespace osiiso::detail
