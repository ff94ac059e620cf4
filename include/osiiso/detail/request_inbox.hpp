// SPDX-License-Identifier: MIT
// A worker's side of its request pipe: the requests it has received and not yet run, including
// those the parent queued behind the one it runs (chunked dispatch), and the Cancel frames that
// withdraw them.
#pragma once

#include <osiiso/detail/frame.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace osiiso::detail {

// A request to run: Request (runs at once) or Queued (reported by a Begin frame first).
struct InboxRequest {
  FrameType type = FrameType::Request;
  std::uint64_t id = 0;
  std::string_view payload;
};

class RequestInbox {
 public:
  explicit RequestInbox(int fd, std::size_t max_frame = kMaxFrameSize)
      : fd_(fd), ahead_(max_frame), max_frame_(max_frame) {}

  // The next request, blocking until one arrives; nullopt at end of file. Its payload is valid until
  // the next call. Throws FrameError on a corrupt or unexpected frame.
  std::optional<InboxRequest> next();
  // Reads what the pipe holds now without blocking; a Cancel frame drops the queued request it names.
  void drain();
  // The id of the request next() returns without reading, when it is a Queued one.
  [[nodiscard]] std::optional<std::uint64_t> next_queued() const;
  // After a request ran: releases its buffer when it grew past what a worker keeps.
  void trim() noexcept;

 private:
  struct Held {
    FrameType type = FrameType::Request;
    std::uint64_t id = 0;
    std::string payload;
  };
  // Queues the whole frames read ahead.
  void take_frames();
  // Blocks until more bytes arrive; false at end of file.
  bool read_more();

  int fd_;
  FrameDecoder ahead_;      // bytes read ahead, not yet whole frames
  std::deque<Held> queue_;  // whole requests read ahead, in order
  Held current_;            // the request next() returned last
  // A request read straight from the pipe when nothing was read ahead: kept from one request to
  // the next, so that a stream of large arguments is read into warm memory.
  std::string direct_;
  std::string scratch_;
  std::size_t max_frame_;
  bool mid_frame_ = false;
};

}  // namespace osiiso::detail
