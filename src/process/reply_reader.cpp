// SPDX-License-Identifier: MIT
// ReplyReader: reply bytes into frames, and results out of the reply arena.
#include <osiiso/detail/reply_reader.hpp>

#include <osiiso/detail/fd.hpp>

#include <unistd.h>

#include <cerrno>

namespace osiiso::detail {

namespace {
// Reads per fill(): epoll reports the pipe again if more is left.
constexpr int kReadsPerFill = 16;
}  // namespace

bool ReplyReader::fill(int fd, std::span<char> buffer) {
  for (int i = 0; i < kReadsPerFill; ++i) {
    const auto n = retry_on_eintr([&] { return ::read(fd, buffer.data(), buffer.size()); });
    if (n > 0) {
      decoder_.feed(buffer.data(), static_cast<std::size_t>(n));
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

std::optional<Frame> ReplyReader::next() {
  auto frame = decoder_.next();
  if (frame && frame->type == FrameType::SharedValue) {
    const auto view = arena_.view(decode_shared_size(frame->payload), max_frame_);
    frame->payload.assign(view);
    arena_.release();
    frame->type = FrameType::Value;
  }
  return frame;
}

}  // namespace osiiso::detail
