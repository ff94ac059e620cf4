// SPDX-License-Identifier: MIT
// The fork-server protocol: fixed-size messages, two descriptors passed with SCM_RIGHTS.
#include <osiiso/detail/fork_server_protocol.hpp>

#include <osiiso/detail/frame.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace osiiso::detail {

namespace {
constexpr std::size_t kMessageSize = 1 + 2 * sizeof(std::int32_t);
}  // namespace

bool send_server_message(int socket, ServerTag tag, pid_t pid, int status, int fd_a, int fd_b) noexcept {
  char data[kMessageSize];
  data[0] = static_cast<char>(tag);
  const std::int32_t p = pid;
  const std::int32_t s = status;
  std::memcpy(data + 1, &p, sizeof p);
  std::memcpy(data + 1 + sizeof p, &s, sizeof s);
  iovec iov{data, sizeof data};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
  if (fd_a >= 0) {
    const int fds[2] = {fd_a, fd_b};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  }
  for (;;) {
    if (::sendmsg(socket, &msg, MSG_NOSIGNAL) >= 0) return true;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      pollfd p{socket, POLLOUT, 0};
      (void)::poll(&p, 1, -1);
      continue;
    }
    return false;
  }
}

std::optional<ServerMessage> receive_server_message(int socket, bool& eof) {
  eof = false;
  char data[kMessageSize];
  iovec iov{data, sizeof data};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = retry_on_eintr([&] { return ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC); });
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
    eof = true;  // the peer is gone (ECONNRESET and the like)
    return std::nullopt;
  }
  if (n == 0) {
    eof = true;
    return std::nullopt;
  }
  ServerMessage out;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(2 * sizeof(int))) {
      int fds[2];
      std::memcpy(fds, CMSG_DATA(c), sizeof fds);
      out.request = UniqueFd(fds[0]);
      out.reply = UniqueFd(fds[1]);
    }
  }
  if (static_cast<std::size_t>(n) != kMessageSize || (msg.msg_flags & MSG_TRUNC) != 0) {
    throw FrameError("malformed message from the ProcessQueue fork server");
  }
  // The descriptors did not fit (this process is out of descriptors): the kernel closed them.
  out.descriptors_lost = (msg.msg_flags & MSG_CTRUNC) != 0;
  std::int32_t p;
  std::int32_t s;
  std::memcpy(&p, data + 1, sizeof p);
  std::memcpy(&s, data + 1 + sizeof p, sizeof s);
  out.tag = static_cast<ServerTag>(data[0]);
  out.pid = p;
  out.status = s;
  return out;
}

}  // namespace osiiso::detail
