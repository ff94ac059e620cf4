// SPDX-License-Identifier: MIT
// The fork server: a single-threaded process that forks workers on request and hands their
// pipes back over a unix socket (SCM_RIGHTS), so workers never inherit a multithreaded parent.
#include <osiiso/detail/frame.hpp>
#include <osiiso/detail/launch.hpp>
#include <osiiso/detail/worker.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>

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
  ssize_t n;
  do {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
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

int serve_fork_server(int socket_fd, pid_t parent) noexcept {
  prepare_worker_process(parent);
  UniqueFd socket(socket_fd);
  set_cloexec(socket.get(), true);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  UniqueFd children(::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK));
  const pid_t self = ::getpid();
  // Workers die with this process (PDEATHSIG); what their tasks started is killed here.
  std::set<pid_t> workers;
  const auto finish = [&workers] {
    for (const pid_t pid : workers) ::kill(-pid, SIGKILL);
    return 0;
  };
  if (!send_server_message(socket.get(), ServerTag::Hello, self, 0)) return 0;
  for (;;) {
    pollfd fds[2] = {{socket.get(), POLLIN, 0}, {children.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 2;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo info;
      while (::read(children.get(), &info, sizeof info) > 0) {
      }
      for (;;) {
        // Seen but not yet reaped, so its pid (and process group id) cannot be reused while what
        // its tasks started is killed.
        siginfo_t info{};
        if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid <= 0) break;
        const pid_t pid = info.si_pid;
        ::kill(-pid, SIGKILL);
        int status = 0;
        if (::waitpid(pid, &status, 0) != pid) break;
        workers.erase(pid);
        if (!send_server_message(socket.get(), ServerTag::Exited, pid, status)) return finish();
      }
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      bool eof = false;
      std::optional<ServerMessage> message;
      try {
        message = receive_server_message(socket.get(), eof);
      } catch (...) {
        return 2;
      }
      if (eof) return finish();  // the queue (or its process) is gone
      if (!message || message->tag != ServerTag::Fork) continue;
      try {
        Pipe request = make_pipe(kPipeCapacity);
        Pipe reply = make_pipe(kPipeCapacity);
        const pid_t pid = ::fork();
        if (pid == 0) {
          run_forked_worker(request.read.get(), reply.write.get(), self);
        }
        if (pid < 0) {
          send_server_message(socket.get(), ServerTag::Forked, -errno, 0);
          continue;
        }
        workers.insert(pid);
        if (!send_server_message(socket.get(), ServerTag::Forked, pid, 0, request.write.get(), reply.read.get())) {
          return finish();
        }
      } catch (...) {
        send_server_message(socket.get(), ServerTag::Forked, -EMFILE, 0);
      }
    }
  }
}

}  // namespace osiiso::detail
