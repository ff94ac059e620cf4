// SPDX-License-Identifier: MIT
// WorkerArenas: the worker's request and reply arenas.
#include <osiiso/detail/worker_arenas.hpp>

namespace osiiso::detail {

bool WorkerArenas::offer(int reply_fd) noexcept {
  requests_ = SharedArena::create("osiiso-requests");
  replies_ = SharedArena::create("osiiso-replies");
  if (!requests_ || !replies_) {
    requests_ = SharedArena();
    replies_ = SharedArena();
    return true;
  }
  ArenaNumbers numbers;
  numbers.requests = requests_.fd();
  numbers.replies = replies_.fd();
  try {
    return write_frame(reply_fd, FrameType::SharedArenas, 0, encode_arena_numbers(numbers));
  } catch (...) {
    return true;  // out of memory for eight bytes: the pipe it is
  }
}

void WorkerArenas::take_request(FrameView& frame) {
  if (frame.type != FrameType::SharedRequest) return;
  frame.payload = requests_.view(decode_shared_size(frame.payload), kMaxFrameSize);
  frame.type = FrameType::Request;
  held_ = frame.id;
}

void WorkerArenas::release_request(std::uint64_t id) noexcept {
  if (id == held_) requests_.release();
}

bool WorkerArenas::write_reply(int reply_fd, FrameType type, std::uint64_t id, std::string_view payload) {
  if (type == FrameType::Value && payload.size() > kSharedPayloadMin && replies_.put(payload)) {
    return write_frame(reply_fd, FrameType::SharedValue, id, encode_shared_size(payload.size()));
  }
  return write_frame(reply_fd, type, id, payload);
}

}  // namespace osiiso::detail
