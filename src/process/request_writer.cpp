// SPDX-License-Identifier: MIT
// RequestWriter: one request frame, written without blocking.
#include <osiiso/detail/request_writer.hpp>

#include <osiiso/detail/fd.hpp>
#include <osiiso/detail/frame.hpp>

#include <signal.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace osiiso::detail {

namespace {
// Requests up to this size are copied next to their header and written in one write() from a
// buffer the writer keeps; larger ones are written in place (no copy).
constexpr std::size_t kInlineRequest = std::size_t{64} << 10;

// A write to a dead worker raised SIGPIPE (blocked on the poller thread): discard it.
void discard_sigpipe() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  const timespec zero{0, 0};
  while (::sigtimedwait(&set, nullptr, &zero) > 0) {
  }
}
}  // namespace

void RequestWriter::begin(std::uint64_t id, RequestView request, std::shared_ptr<const void> owner,
                          std::size_t max_frame) {
  clear();
  const auto size = request.encoded_size();
  // Small requests are copied next to their header even where an arena could take them.
  if (size > std::max(kInlineRequest, kSharedPayloadMin) && size <= max_frame) {
    std::string head;
    append_request_head(head, request.name);
    if (arena_.put(head, request.arguments)) {
      append_frame(out_, FrameType::SharedRequest, id, encode_shared_size(size), max_frame);
      return;
    }
  }
  append(FrameType::Request, id, request, owner, max_frame);
}

bool RequestWriter::add(FrameType type, std::uint64_t id, RequestView request, std::shared_ptr<const void> owner,
                        std::size_t max_frame) {
  if (!make_room()) return false;
  append(type, id, request, owner, max_frame);
  return true;
}

bool RequestWriter::add_signal(FrameType type, std::uint64_t id, std::size_t max_frame) {
  if (!make_room()) return false;
  append_frame(out_, type, id, {}, max_frame);
  return true;
}

bool RequestWriter::make_room() {
  if (!pending()) clear();
  if (!body_.empty()) return false;
  out_.erase(0, offset_);
  offset_ = 0;
  return true;
}

void RequestWriter::append(FrameType type, std::uint64_t id, RequestView request, std::shared_ptr<const void>& owner,
                           std::size_t max_frame) {
  const auto size = request.encoded_size();
  append_frame_header(out_, type, id, size, max_frame);
  append_request_head(out_, request.name);
  if (size <= kInlineRequest) {
    out_.append(request.arguments);
  } else {
    body_ = request.arguments;
    owner_ = std::move(owner);
  }
}

RequestWriter::Progress RequestWriter::pump(int fd) {
  while (pending()) {
    iovec parts[2];
    int count = 0;
    if (offset_ < out_.size()) parts[count++] = {out_.data() + offset_, out_.size() - offset_};
    const std::size_t body_offset = offset_ > out_.size() ? offset_ - out_.size() : 0;
    if (body_offset < body_.size()) {
      parts[count++] = {const_cast<char*>(body_.data()) + body_offset, body_.size() - body_offset};
    }
    const auto n = retry_on_eintr([&] { return ::writev(fd, parts, count); });
    if (n > 0) {
      offset_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Progress::Blocked;
    discard_sigpipe();
    clear();
    return Progress::Broken;
  }
  clear();
  return Progress::Done;
}

void RequestWriter::clear() noexcept {
  out_.clear();
  if (out_.capacity() > 2 * kInlineRequest) std::string().swap(out_);
  body_ = {};
  owner_.reset();
  offset_ = 0;
}

}  // namespace osiiso::detail
