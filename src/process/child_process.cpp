// SPDX-License-Identifier: MIT
// ChildProcess: signalling, reaping and describing a worker process.
#include <osiiso/detail/child_process.hpp>

#include <fmt/format.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace osiiso::detail {

namespace {
UniqueFd open_pidfd(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
#else
  (void)pid;
#endif
  return {};
}
}  // namespace

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  const char* text = ::strsignal(sig);
  if (abbrev == nullptr) return fmt::format("signal {}", sig);
  return fmt::format("SIG{} ({})", abbrev, text != nullptr ? text : "unknown");
}

std::string describe_end(std::optional<int> status, std::optional<int> reported_signal) {
  if (!status && reported_signal) return fmt::format("was killed by signal {}", signal_name(*reported_signal));
  if (!status) return "exited (status unknown; SIGCHLD ignored?)";
  if (WIFSIGNALED(*status)) return fmt::format("was killed by signal {}", signal_name(WTERMSIG(*status)));
  if (WIFEXITED(*status)) return fmt::format("exited with code {}", WEXITSTATUS(*status));
  return fmt::format("ended with wait status {}", *status);
}

ChildProcess::ChildProcess(pid_t pid, bool own_child) : pid_(pid), own_child_(own_child), pidfd_(open_pidfd(pid)) {}

void ChildProcess::signal(int sig) const noexcept {
  if (reaped_) return;
  ::kill(-pid_, sig);
#ifdef SYS_pidfd_send_signal
  if (pidfd_ && ::syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0) == 0) return;
#endif
  ::kill(pid_, sig);
}

bool ChildProcess::try_reap() noexcept {
  if (reaped_ || !own_child_) return reaped_;
  siginfo_t ended{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &ended, WEXITED | WNOHANG | WNOWAIT) == 0 && ended.si_pid == 0) {
    return false;  // still running
  }
  ::kill(-pid_, SIGKILL);
  int status = 0;
  const pid_t r = retry_on_eintr([&] { return ::waitpid(pid_, &status, WNOHANG); });
  if (r == pid_) {
    mark_reaped(status);
  } else if (r < 0 && errno == ECHILD) {
    mark_reaped(std::nullopt);  // reaped by the kernel (SIGCHLD ignored): status unknown
  }
  return reaped_;
}

void ChildProcess::reap_now() noexcept {
  if (reaped_) return;
  if (!own_child_) {
    mark_reaped(std::nullopt);  // dies with its fork server
    return;
  }
  ::kill(-pid_, SIGKILL);
  int status = 0;
  if (retry_on_eintr([&] { return ::waitpid(pid_, &status, 0); }) == pid_) {
    mark_reaped(status);
  } else {
    mark_reaped(std::nullopt);
  }
}

void ChildProcess::mark_reaped(std::optional<int> status) noexcept {
  reaped_ = true;
  status_ = status;
}

std::string ChildProcess::describe_end() const { return detail::describe_end(status_, reported_signal_); }

}  // namespace osiiso::detail
