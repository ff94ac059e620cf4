// SPDX-License-Identifier: MIT
// The fork server: a single-threaded process that forks workers on request and hands their
// pipes back over a unix socket (SCM_RIGHTS), so workers never inherit a multithreaded parent.
#include <osiiso/detail/fork_server_protocol.hpp>
#include <osiiso/detail/launch.hpp>
#include <osiiso/detail/worker.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <system_error>

namespace osiiso::detail {

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
        const LaunchedWorker worker = fork_worker();
        workers.insert(worker.pid);
        if (!send_server_message(socket.get(), ServerTag::Forked, worker.pid, 0, worker.request.get(),
                                 worker.reply.get())) {
          return finish();
        }
      } catch (const std::system_error& e) {
        send_server_message(socket.get(), ServerTag::Forked, -e.code().value(), 0);
      } catch (...) {
        send_server_message(socket.get(), ServerTag::Forked, -EMFILE, 0);
      }
    }
  }
}

}  // namespace osiiso::detail
