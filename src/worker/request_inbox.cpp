// SPDX-License-Identifier: MIT
// RequestInbox: a worker's requests, read one at a time or drained ahead without blocking.
#include <osiiso/detail/request_inbox.hpp>

#include <osiiso/detail/fd.hpp>

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace osiiso::detail {

namespace {
constexpr std::size_t kReadAhead = std::size_t{64} << 10;
// The largest request buffer a worker keeps for the next request (its trim threshold, see
// prepare_worker_process).
constexpr std::size_t kKeptRequestBuffer = std::size_t{64} << 20;

// A SharedRequest is a Request whose payload lies in the worker's request arena (worker_arenas.hpp).
bool is_request(FrameType type) {
  return type == FrameType::Request || type == FrameType::Queued || type == FrameType::SharedRequest;
}

FrameError unexpected(FrameType type) {
  return FrameError(fmt::format("unexpected frame type {} on the request pipe", static_cast<int>(type)));
}
}  // namespace

std::optional<InboxRequest> RequestInbox::next() {
  for (;;) {
    if (!queue_.empty()) {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      return InboxRequest{current_.type, current_.id, current_.payload};
    }
    if (mid_frame_) {
      if (!read_more()) throw FrameError("truncated frame on a ProcessQueue pipe");
      continue;
    }
    // Nothing read ahead: one frame straight into the kept buffer, as without chunking.
    const auto frame = read_frame_into(fd_, direct_, max_frame_);
    if (!frame) return std::nullopt;
    if (frame->type == FrameType::Cancel) continue;  // its request ran already
    if (!is_request(frame->type)) throw unexpected(frame->type);
    return InboxRequest{frame->type, frame->id, frame->payload};
  }
}

void RequestInbox::drain() {
  int available = 0;
  if (::ioctl(fd_, FIONREAD, &available) != 0 || available <= 0) return;
  scratch_.resize(std::min<std::size_t>(static_cast<std::size_t>(available), kReadAhead));
  const auto n = read_full(fd_, scratch_.data(), scratch_.size());
  if (n < 0) throw FrameError(fmt::format("read from a ProcessQueue pipe failed: {}", std::strerror(errno)));
  ahead_.feed(scratch_.data(), static_cast<std::size_t>(n));
  take_frames();
}

std::optional<std::uint64_t> RequestInbox::next_queued() const {
  if (queue_.empty() || queue_.front().type != FrameType::Queued) return std::nullopt;
  return queue_.front().id;
}

void RequestInbox::trim() noexcept {
  if (direct_.capacity() > kKeptRequestBuffer) std::string().swap(direct_);
  if (current_.payload.capacity() > kKeptRequestBuffer) std::string().swap(current_.payload);
}

bool RequestInbox::read_more() {
  scratch_.resize(kReadAhead);
  const auto n = retry_on_eintr([&] { return ::read(fd_, scratch_.data(), scratch_.size()); });
  if (n < 0) throw FrameError(fmt::format("read from a ProcessQueue pipe failed: {}", std::strerror(errno)));
  if (n == 0) return false;
  ahead_.feed(scratch_.data(), static_cast<std::size_t>(n));
  take_frames();
  return true;
}

void RequestInbox::take_frames() {
  while (auto frame = ahead_.next()) {
    if (frame->type == FrameType::Cancel) {
      const auto it =
          std::find_if(queue_.begin(), queue_.end(), [&](const Held& held) { return held.id == frame->id; });
      if (it != queue_.end()) queue_.erase(it);
      continue;
    }
    if (!is_request(frame->type)) throw unexpected(frame->type);
    queue_.push_back({frame->type, frame->id, std::move(frame->payload)});
  }
  mid_frame_ = ahead_.mid_frame();
}

}  // namespace osiiso::detail
